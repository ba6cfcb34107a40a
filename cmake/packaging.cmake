# citygate — install rules for the systemd files, man pages and docs, and the
# Debian package (`cpack -G DEB` in a build directory).
#
# Build the package from a release configuration, with /etc as the sysconfdir:
#   cmake -S . -B build/pkg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCG_BUILD_TESTS=OFF \
#         -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc
#   cmake --build build/pkg -j && (cd build/pkg && cpack -G DEB)
# tests/integration/ops_deb.sh does exactly that, then installs and purges it.

# Where Debian's systemd looks (systemd.pc), with the bookworm defaults.
pkg_get_variable(CG_SYSTEMD_UNITDIR systemd systemdsystemunitdir)
pkg_get_variable(CG_SYSUSERSDIR systemd sysusersdir)
pkg_get_variable(CG_TMPFILESDIR systemd tmpfilesdir)
if(NOT CG_SYSTEMD_UNITDIR)
  set(CG_SYSTEMD_UNITDIR /lib/systemd/system)
endif()
if(NOT CG_SYSUSERSDIR)
  set(CG_SYSUSERSDIR /usr/lib/sysusers.d)
endif()
if(NOT CG_TMPFILESDIR)
  set(CG_TMPFILESDIR /usr/lib/tmpfiles.d)
endif()

install(FILES ${PROJECT_SOURCE_DIR}/systemd/citygate.service DESTINATION ${CG_SYSTEMD_UNITDIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/citygate.sysusers DESTINATION ${CG_SYSUSERSDIR} RENAME citygate.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/citygate.tmpfiles DESTINATION ${CG_TMPFILESDIR} RENAME citygate.conf)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/man8/citygate.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/man1/citygate-sim.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# Every page of docs/ (they link one another by relative name: operations.md
# to config.md, config.md to normalise.md, ...), so no installed link dangles.
file(GLOB cg_doc_pages CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${cg_doc_pages} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/dashboards DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.json")

if(NOT IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  message(STATUS "packaging: CMAKE_INSTALL_SYSCONFDIR is relative ('${CMAKE_INSTALL_SYSCONFDIR}'); for a .deb "
                 "configure with -DCMAKE_INSTALL_SYSCONFDIR=/etc so the example config lands in /etc/citygate")
endif()

set(CPACK_PACKAGE_NAME citygate)
set(CPACK_PACKAGE_VENDOR "citygate")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sensor-telemetry gateway: Modbus and MQTT in, InfluxDB out")
# One string: set() with several quoted arguments makes a list, and its ';'
# separators ended up in the control file's Description. CPack puts the
# summary above as the synopsis and indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "citygate polls Modbus devices and subscribes to MQTT topics, normalises the
readings, buffers them on disk and writes them to InfluxDB-compatible
databases. It runs as a hardened systemd service with health checks,
Prometheus metrics and a status page.")
set(CPACK_PACKAGE_CONTACT "citygate maintainers <citygate@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # library dependencies from dpkg-shlibdeps
# adduser: fallback for creating the user where systemd-sysusers is absent.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "influxdb | victoria-metrics")

# Debian's changelog (gzip -9n, as dpkg and lintian expect) and copyright.
configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/changelog.in ${PROJECT_BINARY_DIR}/deb/changelog.Debian @ONLY)
execute_process(COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/deb/changelog.Debian RESULT_VARIABLE cg_gzip_rc)
if(NOT cg_gzip_rc EQUAL 0)
  message(FATAL_ERROR "packaging: gzip of the Debian changelog failed")
endif()
install(FILES ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz ${CMAKE_CURRENT_LIST_DIR}/deb/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Maintainer scripts, and the conffile list (every file under /etc must be one).
set(cg_deb_dir ${PROJECT_BINARY_DIR}/deb)
foreach(s postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/${s} ${cg_deb_dir}/${s} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
                                  WORLD_EXECUTE)
endforeach()
file(WRITE ${cg_deb_dir}/conffiles "/etc/citygate/citygate.json.example\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${cg_deb_dir}/postinst ${cg_deb_dir}/prerm ${cg_deb_dir}/postrm
                                       ${cg_deb_dir}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_GENERATOR DEB)
include(CPack)
