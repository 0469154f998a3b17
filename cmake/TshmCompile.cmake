# Warnings, hardening and sanitizers, on INTERFACE targets that every tshm
# target links.
add_library(tshm_warnings INTERFACE)
target_compile_options(tshm_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wold-style-definition -Wundef -Wpointer-arith -Wwrite-strings -Wcast-align
  -Wvla -Wimplicit-fallthrough -fstack-protector-strong)
if(TSHM_WERROR)
  target_compile_options(tshm_warnings INTERFACE -Werror)
endif()
target_compile_definitions(tshm_warnings INTERFACE _GNU_SOURCE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_link_options(tshm_warnings INTERFACE -Wl,-z,relro,-z,now)

# The stricter set for pure code that parses untrusted bytes.
add_library(tshm_strict INTERFACE)
target_compile_options(tshm_strict INTERFACE -Wconversion -Wsign-conversion)

if(TSHM_SANITIZER)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=${TSHM_SANITIZER}")
  set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=${TSHM_SANITIZER}")
  check_c_source_compiles("int main(void) { return 0; }" TSHM_HAVE_SANITIZER)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(NOT TSHM_HAVE_SANITIZER)
    message(FATAL_ERROR "${CMAKE_C_COMPILER} cannot build with -fsanitize=${TSHM_SANITIZER}")
  endif()
  set(_san -fsanitize=${TSHM_SANITIZER} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_compile_options(tshm_warnings INTERFACE ${_san})
  target_link_options(tshm_warnings INTERFACE ${_san})
endif()
