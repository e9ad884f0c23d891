// casegate.js: script of the "casegate" Zabbix webhook media type: posts the event's macros to casegate as JSON.
// Kept identical to the script in media_casegate.yaml (a test compares them).
try {
    var params = JSON.parse(value),
        body = {},
        req = new HttpRequest(),
        resp,
        status;

    if (typeof params.casegate_url !== 'string' || !/^https?:\/\/[^\/]+\/hooks\/[A-Za-z0-9_-]+\/?$/.test(params.casegate_url)) {
        throw 'parameter "casegate_url" must be the casegate webhook URL, https://<host>/hooks/<source>';
    }
    if (typeof params.casegate_token !== 'string' || params.casegate_token === '' || params.casegate_token === '<put your token>') {
        throw 'parameter "casegate_token" must be the bearer token of the casegate source';
    }

    Object.keys(params).forEach(function (key) {
        var v = params[key];

        if (key === 'casegate_url' || key === 'casegate_token' || key === 'http_proxy') {
            return;
        }
        // A macro that does not apply to this message (e.g. {EVENT.RECOVERY.ID} in a problem) stays unexpanded.
        if (typeof v === 'string' && /^\{[A-Z0-9._$:]+\}$/.test(v)) {
            v = '';
        }
        body[key] = v;
    });
    // {EVENT.TAGSJSON}: [{"tag": "...", "value": "..."}]; anything else is sent as text.
    if (typeof body.event_tags === 'string' && body.event_tags.charAt(0) === '[') {
        try {
            body.event_tags = JSON.parse(body.event_tags);
        }
        catch (e) {
            // leave the text
        }
    }

    if (typeof params.http_proxy === 'string' && params.http_proxy.trim() !== '') {
        req.setProxy(params.http_proxy);
    }
    req.addHeader('Content-Type: application/json');
    req.addHeader('Authorization: Bearer ' + params.casegate_token);

    Zabbix.log(4, '[casegate webhook] sending event ' + body.event_id + ' (value ' + body.event_value + ')');
    resp = req.post(params.casegate_url, JSON.stringify(body));
    status = req.getStatus();
    Zabbix.log(4, '[casegate webhook] HTTP ' + status + ': ' + resp);

    // 202 accepted, 200 ignored (ack, test) or duplicate; 503 means retry later (Zabbix retries per max_attempts).
    if (status !== 200 && status !== 202) {
        throw 'casegate answered HTTP ' + status + ': ' + resp;
    }
    return 'OK';
}
catch (error) {
    Zabbix.log(3, '[casegate webhook] notification failed: ' + error);
    throw 'casegate notification failed: ' + error;
}
