# Run by 'cmake --install' (through install(CODE) in systemd/ and
# TshmInstall.cmake), not at configure time: the files that name installed
# paths (the systemd units, tshm.pc) are filled in with the prefix given at
# install time, 'cmake --install BUILD --prefix P' included, and installed
# beside the rest. DESTDIR is added by file(INSTALL) itself.
#
# In: TSHM_IP_IN (template), TSHM_IP_OUT (file written under the build
# directory), TSHM_IP_DEST (directory, relative to the prefix or absolute),
# TSHM_IP_RENAME (optional), TSHM_IP_DEST_KIND (SYSCONF for a directory
# under sysconfdir, else PLAIN), and the install directories of GNUInstallDirs
# as configured (relative, or absolute if someone gave them so):
# TSHM_IP_SBINDIR, TSHM_IP_SYSCONFDIR, TSHM_IP_LIBDIR, TSHM_IP_INCLUDEDIR.
# The template may use @TSHMD@, @TSHM_DEFAULT_FILE@, @TSHM_PC_PREFIX@,
# @TSHM_PC_LIBDIR@, @TSHM_PC_INCLUDEDIR@ and @PROJECT_VERSION@.

# A directory under the install-time prefix, the way GNUInstallDirs makes
# CMAKE_INSTALL_FULL_<dir>: absolute ones stay, and with the prefix /usr
# the configuration lives in /etc, not /usr/etc.
function(tshm_ip_full var dir kind)
  set(prefix "${CMAKE_INSTALL_PREFIX}")
  if(IS_ABSOLUTE "${dir}")
    set(${var} "${dir}" PARENT_SCOPE)
  elseif(kind STREQUAL "SYSCONF" AND prefix MATCHES "^/usr/?$")
    set(${var} "/${dir}" PARENT_SCOPE)
  elseif(kind STREQUAL "SYSCONF" AND prefix MATCHES "^/opt/(.*)")
    set(${var} "/${dir}/opt/${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    string(REGEX REPLACE "/$" "" prefix "${prefix}")
    set(${var} "${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

tshm_ip_full(_sbindir "${TSHM_IP_SBINDIR}" PLAIN)
tshm_ip_full(_sysconfdir "${TSHM_IP_SYSCONFDIR}" SYSCONF)
set(TSHMD "${_sbindir}/tshmd")
set(TSHM_DEFAULT_FILE "${_sysconfdir}/default/tshmd")
# tshm.pc: ${prefix}-relative where the directory is under the prefix.
string(REGEX REPLACE "(.)/$" "\\1" TSHM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${TSHM_IP_${_d}}")
    set(TSHM_PC_${_d} "${TSHM_IP_${_d}}")
  else()
    set(TSHM_PC_${_d} "\${prefix}/${TSHM_IP_${_d}}")
  endif()
endforeach()

configure_file("${TSHM_IP_IN}" "${TSHM_IP_OUT}" @ONLY)
tshm_ip_full(_dest "${TSHM_IP_DEST}" "${TSHM_IP_DEST_KIND}")
if(TSHM_IP_RENAME)
  file(INSTALL DESTINATION "${_dest}" TYPE FILE RENAME "${TSHM_IP_RENAME}" FILES "${TSHM_IP_OUT}")
else()
  file(INSTALL DESTINATION "${_dest}" TYPE FILE FILES "${TSHM_IP_OUT}")
endif()
