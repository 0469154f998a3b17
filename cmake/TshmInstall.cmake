# Install the header, both libraries, pkg-config and CMake package files.
include(CMakePackageConfigHelpers)

install(FILES ${PROJECT_SOURCE_DIR}/include/tshm.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS tshm tshm_static EXPORT tshmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tshmTargets NAMESPACE tshm:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tshm)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tshmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tshmConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tshm)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tshmConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tshmConfig.cmake ${PROJECT_BINARY_DIR}/tshmConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tshm)

configure_file(${PROJECT_SOURCE_DIR}/cmake/tshm.pc.in ${PROJECT_BINARY_DIR}/tshm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tshm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Bash completion for the tshm command (the systemd units, sysusers.d,
# tmpfiles.d and /etc/default files are installed by systemd/, the man pages
# by docs/man/).
set(TSHM_BASH_COMPLETIONDIR "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" CACHE STRING
  "Where the bash completion of tshm is installed")
install(FILES ${PROJECT_SOURCE_DIR}/contrib/bash-completion/tshm
  DESTINATION ${TSHM_BASH_COMPLETIONDIR})
