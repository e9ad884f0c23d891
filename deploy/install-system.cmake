# install-system.cmake: installs casegate's system files (config under etc, the systemd unit) for the
# prefix being installed to, decided at install time: `cmake --install --prefix /usr` and the .deb
# (cpack installs with prefix /usr) get /etc/casegate and /lib/systemd/system, other prefixes
# PREFIX/etc/casegate and PREFIX/lib/systemd/system; the unit and the config say those paths.
# Set by CMakeLists.txt before this runs: CG_SRC (source dir), CG_BIN (build dir), CG_BINDIR, CG_DOCDIR (relative).

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(cg_etc /etc)
  set(cg_unitdir /lib/systemd/system)
else()
  set(cg_etc ${CMAKE_INSTALL_PREFIX}/etc)
  set(cg_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(cg_conf ${cg_etc}/casegate)
set(cg_exe ${CMAKE_INSTALL_PREFIX}/${CG_BINDIR}/casegate)
set(cg_gen ${CG_BIN}/install-system)
file(MAKE_DIRECTORY ${cg_gen})

# Replaces `old` by `new` in `text`, failing when `old` is there fewer than `count` times: an edit of
# the source file that changes the path stops the install instead of shipping the unadapted text.
function(cg_replace var old new count what)
  set(text "${${var}}")
  string(REPLACE "${old}" "@@CG@@" probe "${text}")
  string(REGEX MATCHALL "@@CG@@" hits "${probe}")
  list(LENGTH hits n)
  if(n LESS count)
    message(FATAL_ERROR "install-system.cmake: ${what}: got ${n} occurrence(s) of '${old}', want at least ${count}")
  endif()
  string(REPLACE "${old}" "${new}" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

# A config file an admin may have edited (secrets, sources) is never overwritten by a later
# `cmake --install`: an existing one is kept and the new one named. (The .deb installs into an empty
# staging tree, and dpkg handles conffiles itself.)
function(cg_install_conf src dir name)
  if(EXISTS "$ENV{DESTDIR}${dir}/${name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${dir}/${name} (exists; the new one is ${src})")
    return()
  endif()
  file(INSTALL ${src} DESTINATION ${dir} RENAME ${name} FILE_PERMISSIONS ${ARGN})
endfunction()

# The example config, its state in /var/lib/casegate (the unit's StateDirectory), not next to it.
file(READ ${CG_SRC}/conf/casegate.yaml conf)
cg_replace(conf "state_dir: ./var" "state_dir: /var/lib/casegate" 1 "conf/casegate.yaml")
file(WRITE ${cg_gen}/casegate.yaml "${conf}")
# Not world-readable: it may hold secrets once the admin edits it. The .deb's postinst gives
# it the group casegate (dpkg-statoverride) so the daemon can read it.
cg_install_conf(${cg_gen}/casegate.yaml ${cg_conf} casegate.yaml OWNER_READ OWNER_WRITE GROUP_READ)
# Secrets: root only (systemd reads EnvironmentFile= before dropping privileges).
cg_install_conf(${CG_SRC}/deploy/casegate.env.example ${cg_conf} casegate.env OWNER_READ OWNER_WRITE)
# The shipped mail rule sets, where `rules: { file: mail-rules/<set>.yaml }` finds them.
file(GLOB cg_rules ${CG_SRC}/conf/mail-rules/*.yaml)
foreach(r ${cg_rules})
  get_filename_component(n ${r} NAME)
  cg_install_conf(${r} ${cg_conf}/mail-rules ${n} OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()

# The unit, with this install's binary and config paths.
file(READ ${CG_SRC}/deploy/casegate.service unit)
cg_replace(unit "/usr/bin/casegate " "${cg_exe} " 3 "deploy/casegate.service")
cg_replace(unit "/etc/casegate/" "${cg_conf}/" 4 "deploy/casegate.service")
cg_replace(unit "file:///usr/share/doc/casegate/" "file://${CMAKE_INSTALL_PREFIX}/${CG_DOCDIR}/" 1 "deploy/casegate.service")
file(WRITE ${cg_gen}/casegate.service "${unit}")
file(INSTALL ${cg_gen}/casegate.service DESTINATION ${cg_unitdir}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
