# Installs bimd.service and the defaults file it reads, with this install's prefix in them. Runs at
# install time (make install, cpack), so the paths follow the prefix actually installed to (CPack
# installs the Debian package under /usr while `make install` defaults to /usr/local).
# Inputs: BIM_SOURCE_DIR (set by the install(CODE) call in CMakeLists.txt).
include(GNUInstallDirs)
set(BIM_BINDIR "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(BIM_SYSCONFDIR "/etc")  # Debian's rule: /usr's configuration lives in /etc
else()
  set(BIM_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(BIM_DEFAULTS_FILE "${BIM_SYSCONFDIR}/default/bimd")
# file(INSTALL) puts $DESTDIR (cpack's staging directory) in front of absolute destinations itself.
set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

configure_file("${BIM_SOURCE_DIR}/packaging/bimd.service.in" "${CMAKE_CURRENT_BINARY_DIR}/bimd.service" @ONLY)
file(INSTALL DESTINATION "${unit_dir}" TYPE FILE FILES "${CMAKE_CURRENT_BINARY_DIR}/bimd.service")
# The defaults file is the administrator's once installed: never replaced by a later `make install`.
if(NOT EXISTS "$ENV{DESTDIR}${BIM_DEFAULTS_FILE}")
  file(INSTALL DESTINATION "${BIM_SYSCONFDIR}/default" TYPE FILE RENAME bimd
       FILES "${BIM_SOURCE_DIR}/packaging/bimd.default")
else()
  message(STATUS "Keeping: $ENV{DESTDIR}${BIM_DEFAULTS_FILE}")
endif()
