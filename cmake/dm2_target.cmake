# Warnings for dm2's own code only: third-party headers come in as SYSTEM includes.
function(dm2_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(DM2_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# dm2_module(NAME SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# One static library per module folder; public headers under <folder>/include/dm2/<folder>/.
function(dm2_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(dm2_${name} STATIC ${M_SOURCES})
  add_library(dm2::${name} ALIAS dm2_${name})
  target_include_directories(dm2_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(dm2_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  dm2_warnings(dm2_${name})
endfunction()
