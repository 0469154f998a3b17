# tshm_install_configured(TEMPLATE OUTPUT DESTINATION [SYSCONF] [RENAME name]):
# install a file filled in from TEMPLATE at install time, with the prefix of
# that install ('cmake --install BUILD --prefix P' included), not the
# CMAKE_INSTALL_PREFIX of the configure step. DESTINATION is relative to
# the prefix (or absolute); SYSCONF: it is under sysconfdir, which for the
# prefix /usr is /etc. See TshmInstallPaths.cmake for the template's
# variables.
include_guard(GLOBAL)

function(tshm_install_configured template output dest)
  cmake_parse_arguments(A "SYSCONF" "RENAME" "" ${ARGN})
  set(kind PLAIN)
  if(A_SYSCONF)
    set(kind SYSCONF)
  endif()
  install(CODE "
set(TSHM_IP_IN [[${template}]])
set(TSHM_IP_OUT [[${output}]])
set(TSHM_IP_DEST [[${dest}]])
set(TSHM_IP_DEST_KIND ${kind})
set(TSHM_IP_RENAME [[${A_RENAME}]])
set(TSHM_IP_SBINDIR [[${CMAKE_INSTALL_SBINDIR}]])
set(TSHM_IP_SYSCONFDIR [[${CMAKE_INSTALL_SYSCONFDIR}]])
set(TSHM_IP_LIBDIR [[${CMAKE_INSTALL_LIBDIR}]])
set(TSHM_IP_INCLUDEDIR [[${CMAKE_INSTALL_INCLUDEDIR}]])
set(PROJECT_VERSION [[${PROJECT_VERSION}]])
include([[${PROJECT_SOURCE_DIR}/cmake/TshmInstallPaths.cmake]])
")
endfunction()
