# `cmake --install`: the programs, the web assets, the systemd unit and its user, the docs.
# docs/operations.md ("Installing") lists what goes where.
include(GNUInstallDirs)

install(TARGETS dm2d dm2 dm2-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Web assets served by the node: node/web/ when it exists; the directory is created either way so
# that a later page needs no change to the layout.
set(DM2_WEB_DIR ${CMAKE_INSTALL_DATADIR}/dm2/web)
if(EXISTS ${PROJECT_SOURCE_DIR}/node/web)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/node/web/ DESTINATION ${DM2_WEB_DIR} PATTERN ".gitkeep" EXCLUDE)
else()
  install(DIRECTORY DESTINATION ${DM2_WEB_DIR})
endif()

# systemd: relative to the prefix, so a /usr/local install lands in /usr/local/lib/systemd/system,
# which systemd reads. Packagers installing to /usr keep the default.
set(DM2_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING "Where the dm2d.service unit goes (relative: under the prefix)")
set(DM2_SYSUSERS_DIR lib/sysusers.d CACHE STRING "Where the dm2 user's sysusers.d file goes (relative: under the prefix)")
set(DM2_INSTALL_FULL_DOCDIR ${CMAKE_INSTALL_FULL_DATADIR}/doc/dm2)
configure_file(${PROJECT_SOURCE_DIR}/packaging/dm2d.service.in ${PROJECT_BINARY_DIR}/dm2d.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dm2d.service DESTINATION ${DM2_SYSTEMD_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/packaging/dm2.sysusers DESTINATION ${DM2_SYSUSERS_DIR} RENAME dm2.conf)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
        ${PROJECT_SOURCE_DIR}/docs/api.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/dm2)
