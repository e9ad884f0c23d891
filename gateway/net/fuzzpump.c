/* fuzzpump.c: the socketpair pump behind the servers' fuzz hooks (tests/fuzz/fuzz_http.c,
 * fuzz_lmtp.c): the client side of one connection, driven turn by turn with the server's loop. */
#include "fuzzpump.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int cg_fuzz_pump_open(struct cg_fuzz_pump *p)
{
	p->sv[0] = p->sv[1] = -1;
	if (uv_loop_init(&p->loop) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv) < 0) {
		p->sv[0] = p->sv[1] = -1;
		uv_loop_close(&p->loop);
		return -1;
	}
	return 0;
}

int cg_fuzz_pump_run(struct cg_fuzz_pump *p, const uint8_t *data, size_t len, size_t chunk)
{
	size_t off = 0;
	int shut = 0, closed = 0;
	for (unsigned spins = 0; spins < 20000 && !closed; spins++) {
		char sink[4096];
		ssize_t r;
		if (off < len) {
			size_t n = len - off < chunk ? len - off : chunk;
			ssize_t w = send(p->sv[1], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
		}
		if (off == len && !shut) {
			shutdown(p->sv[1], SHUT_WR);
			shut = 1;
		}
		while ((r = recv(p->sv[1], sink, sizeof(sink), MSG_DONTWAIT)) > 0) {
			if (p->output)
				p->output(sink, (size_t)r, p->ud);
		}
		if (p->before)
			p->before(p->ud);
		uv_run(&p->loop, UV_RUN_NOWAIT);
		if ((closed = p->after(p->ud)) != 0)
			break;
		/* Wait for either side instead of spinning: the loop's fd and our client end. */
		struct pollfd pfd[2] = {{.fd = uv_backend_fd(&p->loop), .events = POLLIN},
					{.fd = p->sv[1], .events = POLLIN | (off < len ? POLLOUT : 0)}};
		int t = uv_backend_timeout(&p->loop);
		poll(pfd, 2, t < 0 || t > 50 ? 50 : t);
	}
	return closed ? 0 : -1;
}

int cg_fuzz_pump_close(struct cg_fuzz_pump *p)
{
	if (p->sv[0] >= 0)
		close(p->sv[0]);
	if (p->sv[1] >= 0)
		close(p->sv[1]);
	p->sv[0] = p->sv[1] = -1;
	uv_run(&p->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&p->loop) != 0 ? -2 : 0;
}
