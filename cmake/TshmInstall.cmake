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

# tshm.pc names the prefix of the install ('cmake --install --prefix P'
# included), so it is written then.
include(TshmInstallConfigured)
tshm_install_configured(${PROJECT_SOURCE_DIR}/cmake/tshm.pc.in ${PROJECT_BINARY_DIR}/install/tshm.pc
  ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Bash completion for the tshm command (the systemd units, sysusers.d,
# tmpfiles.d and /etc/default files are installed by systemd/, the man pages
# by docs/man/).
set(TSHM_BASH_COMPLETIONDIR "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" CACHE STRING
  "Where the bash completion of tshm is installed")
install(FILES ${PROJECT_SOURCE_DIR}/contrib/bash-completion/tshm
  DESTINATION ${TSHM_BASH_COMPLETIONDIR})

# The installed tshm command finds libtshm.so.0 beside it, under whatever
# prefix it was installed to ('cmake --install --prefix P' included): a
# RUNPATH relative to the executable, $ORIGIN/../lib (or the multiarch
# libdir). tshmd needs none (it links no libtshm), nor does the Python
# module (libtshm is linked into it statically). Packages for a system
# whose loader finds libtshm anyway turn it off: Debian's policy (lintian)
# wants no RUNPATH in /usr (debian/rules passes OFF).
option(TSHM_INSTALL_RPATH "Give installed programs a RUNPATH to the libdir, relative to them" ON)
if(TSHM_INSTALL_RPATH)
  file(RELATIVE_PATH _tshm_bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
  set_target_properties(tshm_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_tshm_bin_to_lib}")
endif()
