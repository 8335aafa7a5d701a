# mtlcFunctions.cmake: mtlc_add_model(), for projects that use mtlc from an install prefix
# (find_package(mtlc CONFIG)) or from a source tree (add_subdirectory).
#
#   mtlc_add_model(<name> <file.mtl> [TRAINER] [NO_MAIN] [REAL double] [OUTPUT_DIR <dir>])
#
# Compiles <file.mtl> with mtlc::mtlc into <dir>/<name>.c and <dir>/<name>.h (<dir>: the
# current binary directory unless OUTPUT_DIR is given) and defines the static library
# <name>, which links mtlc::runtime and puts <dir> on its users' include path. The generated
# code is rebuilt when the .mtl changes and when mtlc does (mtlc's depfile, -MF, names the
# model file). TRAINER also defines the executable <name>_trainer, the generated trainer;
# NO_MAIN leaves main() out of the library (for embedding; not with TRAINER). REAL double
# generates double-precision code.
function(mtlc_add_model name file)
  cmake_parse_arguments(PARSE_ARGV 2 MODEL "TRAINER;NO_MAIN" "REAL;OUTPUT_DIR" "")
  if(MODEL_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "mtlc_add_model(${name}): unknown arguments: ${MODEL_UNPARSED_ARGUMENTS}")
  endif()
  if(MODEL_TRAINER AND MODEL_NO_MAIN)
    message(FATAL_ERROR "mtlc_add_model(${name}): TRAINER needs the main() that NO_MAIN leaves out")
  endif()
  if(NOT MODEL_OUTPUT_DIR)
    set(MODEL_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  get_filename_component(dir "${MODEL_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  get_filename_component(source "${file}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(options)
  if(MODEL_NO_MAIN)
    list(APPEND options --no-main)
  endif()
  if(MODEL_REAL)
    list(APPEND options --real ${MODEL_REAL})
  endif()
  add_custom_command(
    OUTPUT ${dir}/${name}.c ${dir}/${name}.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND mtlc::mtlc ${source} -o ${dir}/${name}.c -MF ${dir}/${name}.d ${options}
    # the target, so that an in-tree mtlc is built first; its file, so that a new mtlc
    # (rebuilt, or installed anew) regenerates the model
    DEPENDS ${source} mtlc::mtlc $<TARGET_FILE:mtlc::mtlc>
    DEPFILE ${dir}/${name}.d
    COMMENT "mtlc: ${file} -> ${name}.c"
    VERBATIM)
  add_library(${name} STATIC ${dir}/${name}.c ${dir}/${name}.h)
  target_include_directories(${name} PUBLIC ${dir})
  target_link_libraries(${name} PUBLIC mtlc::runtime)
  if(MODEL_TRAINER)
    add_executable(${name}_trainer ${dir}/${name}.c)
    target_link_libraries(${name}_trainer PRIVATE mtlc::runtime)
  endif()
endfunction()
