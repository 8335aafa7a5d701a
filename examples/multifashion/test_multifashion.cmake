# The examples.multifashion test (cmake -P): the command line, determinism, and the
# outputs' contents through check_multifashion (and check_multifashion.py with numpy).
# Inputs: TOOL CHECK PYTHON PYCHECK SOURCE WORK.
set(TRAIN 300)
set(TEST 200)
set(THRESHOLD 10)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

# expect_run(<exit status> <stderr regex or ""> args...)
function(expect_run status regex)
  execute_process(COMMAND ${TOOL} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc STREQUAL "${status}")
    message(FATAL_ERROR "make_multifashion ${ARGN}: exit status ${rc}, expected ${status}\n"
                        "${out}${err}")
  endif()
  if(regex AND NOT "${out}${err}" MATCHES "${regex}")
    message(FATAL_ERROR "make_multifashion ${ARGN}: output does not match '${regex}':\n"
                        "${out}${err}")
  endif()
endfunction()

expect_run(0 "^usage: .*--train-size" --help)
expect_run(2 "usage: " )
expect_run(2 "unknown option '--bogus'" --bogus ${WORK}/x)
expect_run(2 "--train-size expects an integer from 1 to" --train-size 0 ${WORK}/x)
expect_run(2 "--seed needs a value" --seed)
expect_run(2 "one output directory expected" ${WORK}/x ${WORK}/y)
set(missing "nowhere/train-images-idx3-ubyte.gz: no such file \\(install the Debian package")
expect_run(1 "${missing} dataset-fashion-mnist" --source ${WORK}/nowhere ${WORK}/x)
if(EXISTS ${WORK}/x)
  message(FATAL_ERROR "a failed run left ${WORK}/x behind")
endif()

set(common --train-size ${TRAIN} --test-size ${TEST} --threshold ${THRESHOLD} --source ${SOURCE})
expect_run(0 "" --seed 7 ${common} ${WORK}/a)
expect_run(0 "" --seed 7 ${common} ${WORK}/b)
expect_run(0 "" --seed 8 ${common} ${WORK}/c)
foreach(split train test)
  foreach(name image left_label right_label mask)
    set(f ${split}/${name}.npy)
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a/${f} ${WORK}/b/${f}
                    RESULT_VARIABLE same)
    if(NOT same EQUAL 0)
      message(FATAL_ERROR "not deterministic: ${WORK}/a/${f} and ${WORK}/b/${f} differ")
    endif()
  endforeach()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a/${split}/image.npy
                          ${WORK}/c/${split}/image.npy RESULT_VARIABLE same)
  if(same EQUAL 0)
    message(FATAL_ERROR "seeds 7 and 8 gave the same ${split}/image.npy")
  endif()
endforeach()

execute_process(COMMAND ${CHECK} ${WORK}/a ${TRAIN} ${TEST} ${THRESHOLD} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_multifashion failed (exit status ${rc})")
endif()

if(PYTHON)
  # A smaller run must be a prefix of a larger one with the same seed.
  expect_run(0 "" --seed 7 --train-size 100 --test-size 50 --threshold ${THRESHOLD}
             --source ${SOURCE} ${WORK}/d)
  execute_process(COMMAND ${PYTHON} ${PYCHECK} ${WORK}/a ${SOURCE} ${THRESHOLD} ${WORK}/d
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_multifashion.py failed (exit status ${rc})")
  endif()
endif()
message(STATUS "examples.multifashion: ok")
