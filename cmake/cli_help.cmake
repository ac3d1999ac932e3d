# The commands' help texts, written as text in cli/help/NAME.txt (line 1:
# the summary for `gsread --help`, line 2: the synopsis after "gsread
# NAME", a blank line, then the description `gsread NAME --help` prints),
# become CLI_HELP_NAME in the generated cli_help.h: the three fields of
# its struct cli_command. Made at configure time; editing a text
# reconfigures.
# SPDX-License-Identifier: MIT

# A C string literal of text, one source line per line of text, each
# continued for a macro's body.
function(gsr_c_string text out)
  string(REPLACE "\\" "\\\\" text "${text}")
  string(REPLACE "\"" "\\\"" text "${text}")
  string(REPLACE "\n" "\\n\" \\\n    \"" text "${text}")
  set(${out} "\"${text}\"" PARENT_SCOPE)
endfunction()

function(gsr_cli_help dir header)
  file(GLOB texts ${dir}/*.txt)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir} ${texts})
  set(body "/* Generated from the texts in cli/help by cmake/cli_help.cmake. */\n")
  foreach(path ${texts})
    get_filename_component(name ${path} NAME_WE)
    file(READ ${path} text)
    string(FIND "${text}" "\n" a)
    string(SUBSTRING "${text}" 0 ${a} summary)
    math(EXPR a "${a} + 1")
    string(SUBSTRING "${text}" ${a} -1 text)
    string(FIND "${text}" "\n\n" b)
    if(a LESS 1 OR b LESS 0)
      message(FATAL_ERROR "${path}: want a summary line, a synopsis line, a blank line, then the description")
    endif()
    string(SUBSTRING "${text}" 0 ${b} synopsis)
    math(EXPR b "${b} + 2")
    string(SUBSTRING "${text}" ${b} -1 description)
    gsr_c_string("${summary}" summary)
    gsr_c_string("${synopsis}" synopsis)
    gsr_c_string("${description}" description)
    string(APPEND body "#define CLI_HELP_${name} \\\n  .summary = ${summary}, .synopsis = ${synopsis}, \\\n  .description = ${description}\n")
  endforeach()
  # Rewritten only when it changed, so that no command recompiles for
  # nothing.
  file(WRITE ${header}.new "${body}")
  configure_file(${header}.new ${header} COPYONLY)
endfunction()
