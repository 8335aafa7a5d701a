# Turns text files into C: cmake -DOUT=file.c -DNAMES="a;b" -DFILES="x;y" -P embed.cmake
# writes `const char a[] = {...};` for each pair, so that mtlc carries its templates.
set(code "/* Generated from templates/ by cmake/embed.cmake. */\n")
list(LENGTH NAMES count)
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  list(GET NAMES ${i} name)
  list(GET FILES ${i} file)
  file(READ ${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND code "const char ${name}[] = {${hex}0x00};\n")
endforeach()
file(WRITE ${OUT} "${code}")
