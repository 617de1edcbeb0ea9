"""Dockerfile parsing: every instruction and form, continuations, directives, errors with FILE:LINE."""

import pytest

from minicontainer.build.parser import INSTRUCTIONS, DockerfileError, parse
from minicontainer.errors import UsageError


def one(text):
    """The single instruction after FROM."""
    return parse("FROM busybox\n" + text).instructions[1]


def test_from_forms():
    df = parse("FROM busybox\nfrom busybox:latest AS Build\nFROM --platform=linux/amd64 scratch\n")
    a, b, c = df.instructions
    assert (a.cmd, a.args) == ("FROM", "busybox")
    assert (b.cmd, b.args, b.line) == ("FROM", "busybox:latest AS Build", 2)
    assert c.flags == {"platform": "linux/amd64"} and c.args == "scratch"


@pytest.mark.parametrize("text", ["FROM a b", "FROM a AS", "FROM a FOR b", "FROM a AS 1x"])
def test_from_bad_shapes(text):
    with pytest.raises(DockerfileError):
        parse(text)


def test_run_shell_and_exec_form():
    shell = one("RUN echo hi && ls")
    assert shell.json is None and shell.args == "echo hi && ls"
    exe = one('RUN ["echo", "hi there"]')
    assert exe.exec_form and exe.json == ["echo", "hi there"]


def test_invalid_json_falls_back_to_shell_form():
    inst = one("CMD [echo, hi]")           # not JSON: Docker runs it through the shell
    assert inst.json is None and inst.args == "[echo, hi]"
    inst = one('CMD ["a", 1]')             # JSON, but not all strings
    assert inst.json is None


@pytest.mark.parametrize("cmd", ["CMD", "ENTRYPOINT"])
def test_cmd_entrypoint_forms(cmd):
    assert one(f'{cmd} ["/bin/app", "-v"]').json == ["/bin/app", "-v"]
    assert one(f"{cmd} /bin/app -v").args == "/bin/app -v"


def test_every_instruction_is_accepted():
    lines = {"RUN": "RUN true", "CMD": "CMD true", "LABEL": "LABEL a=b", "MAINTAINER": "MAINTAINER me",
             "EXPOSE": "EXPOSE 80", "ENV": "ENV A=1", "ADD": "ADD a /a", "COPY": "COPY a /a",
             "ENTRYPOINT": "ENTRYPOINT true", "VOLUME": "VOLUME /v", "USER": "USER nobody",
             "WORKDIR": "WORKDIR /w", "ARG": "ARG X", "ONBUILD": "ONBUILD RUN true", "STOPSIGNAL": "STOPSIGNAL TERM",
             "HEALTHCHECK": "HEALTHCHECK CMD true", "SHELL": 'SHELL ["/bin/sh", "-c"]', "FROM": "FROM x"}
    assert set(lines) == set(INSTRUCTIONS)
    df = parse("FROM busybox\n" + "\n".join(lines.values()) + "\n")
    assert [i.cmd for i in df.instructions[1:]] == list(lines)


def test_instruction_names_are_case_insensitive():
    assert one("run echo").cmd == "RUN"
    assert one("Copy a b").cmd == "COPY"


def test_continuation_comments_and_blank_lines():
    df = parse("FROM busybox\n\nRUN echo one \\\n# a comment inside\n\n    && echo two\n# end\nCMD x\n")
    run, cmd = df.instructions[1:]
    assert run.line == 3 and run.args == "echo one     && echo two"
    assert cmd.line == 8


def test_trailing_blanks_after_escape_still_continue():
    assert one("RUN a \\   \n b").args == "a  b"


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo done\n")
    assert df.escape == "`"
    assert df.instructions[1].args == "dir c:\\   && echo done"


def test_directive_only_at_the_top():
    df = parse("FROM busybox\n# escape=`\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.instructions[1].args == "a  b"
    df = parse("# a comment\n# escape=`\nFROM busybox\n")
    assert df.escape == "\\"


def test_syntax_directive_accepted_and_duplicates_refused():
    assert parse("# syntax=docker/dockerfile:1\nFROM busybox\n").directives == {"syntax": "docker/dockerfile:1"}
    with pytest.raises(DockerfileError, match="only one escape"):
        parse("# escape=`\n# escape=\\\nFROM busybox\n")
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM busybox\n")


def test_flags():
    inst = one("COPY --from=build --chown=1:2 --chmod=755 a /b")
    assert inst.flags == {"from": "build", "chown": "1:2", "chmod": "755"} and inst.args == "a /b"
    hc = one("HEALTHCHECK --interval=5s --retries=3 CMD true")
    assert hc.flags == {"interval": "5s", "retries": "3"}


def test_unknown_and_duplicate_flags():
    with pytest.raises(DockerfileError, match="unknown flag: from"):
        one("ADD --from=x a b")
    with pytest.raises(DockerfileError, match="duplicate flag"):
        one("COPY --chown=1 --chown=2 a b")
    with pytest.raises(DockerfileError, match="unknown flag: mount"):
        one("RUN --mount=type=cache,target=/x true")


def test_copy_json_form_for_names_with_blanks():
    assert one('COPY ["my file", "/dest dir/"]').json == ["my file", "/dest dir/"]


def test_error_names_file_line_and_text():
    with pytest.raises(DockerfileError) as info:
        parse("FROM busybox\nRUN true\nFROOB the thing\n", "app.Dockerfile")
    err = info.value
    assert (err.file, err.line) == ("app.Dockerfile", 3)
    assert str(err) == "app.Dockerfile:3: unknown instruction: FROOB: FROOB the thing"
    assert isinstance(err, UsageError)


def test_error_line_of_a_continued_instruction_is_its_first_line():
    with pytest.raises(DockerfileError) as info:
        parse("FROM busybox\nBLAH a \\\n b\n")
    assert info.value.line == 2


@pytest.mark.parametrize("text,message", [
    ("", "no instructions"),
    ("# only a comment\n", "no instructions"),
    ("RUN true\n", "first instruction must be FROM"),
    ("ARG A\nRUN true\n", "first instruction must be FROM"),
    ("FROM busybox\nCOPY onlyone\n", "at least two arguments"),
    ("FROM busybox\nSHELL /bin/bash -c\n", "JSON form"),
    ("FROM busybox\nUSER a b\n", "exactly one"),
    ("FROM busybox\nONBUILD FROM x\n", "isn't allowed"),
    ("FROM busybox\nHEALTHCHECK NONE --x\n", "takes no other"),
    ("FROM busybox\nHEALTHCHECK ls\n", "CMD or NONE"),
    ("FROM busybox\nENV\n", "requires at least one argument"),
    ("FROM busybox\nWORKDIR\n", "requires at least one argument"),
])
def test_bad_dockerfiles(text, message):
    with pytest.raises(DockerfileError, match=message):
        parse(text)


def test_arg_may_come_before_from():
    df = parse("ARG V=1\nFROM busybox:$V\n")
    assert [i.cmd for i in df.instructions] == ["ARG", "FROM"]


# -- here-documents (Dockerfile 1.4, BuildKit's rules) ----------------------------------------
def test_heredoc_run_body_taken_verbatim():
    df = parse("FROM busybox\nRUN <<EOF\necho one\n# kept, not a comment\n\n  echo two \\\nEOF\nCMD x\n")
    run, cmd = df.instructions[1], df.instructions[2]
    [doc] = run.heredocs
    assert (doc.name, doc.expand, doc.chomp) == ("EOF", True, False)
    assert doc.body == "echo one\n# kept, not a comment\n\n  echo two \\\n"
    assert (cmd.cmd, cmd.args, cmd.line) == ("CMD", "x", 8)


def test_heredoc_chomp_strips_leading_tabs_and_indented_terminator():
    [doc] = one("RUN <<-EOT\n\t\techo hi\n\tEOT\n").heredocs
    assert doc.chomp and doc.body == "\t\techo hi\n" and doc.content == "echo hi\n"


@pytest.mark.parametrize("marker,name,expand", [("<<EOF", "EOF", True), ('<<"EOF"', "EOF", False),
                                                ("<<'EOF'", "EOF", False), ("<<-'EOF'", "EOF", False),
                                                ('<<E"O"F', "EOF", False), ("<<$X", "$X", True)])
def test_heredoc_quoted_delimiters(marker, name, expand):
    [doc] = one(f"RUN cat {marker} > /f\nbody\n{name}\n").heredocs
    assert (doc.name, doc.expand, doc.body) == (name, expand, "body\n")


def test_several_heredocs_on_one_line_in_order():
    inst = one("COPY <<FILE1 <<FILE2 /dest/\nfirst\nFILE1\nsecond\nFILE2\n")
    assert [(d.name, d.body) for d in inst.heredocs] == [("FILE1", "first\n"), ("FILE2", "second\n")]


def test_heredoc_after_continuation_and_flags():
    inst = one("COPY --chmod=0755 \\\n  <<EOF /usr/bin/hello\n#!/bin/sh\necho hello\nEOF\n")
    assert inst.flags == {"chmod": "0755"} and inst.heredocs[0].body == "#!/bin/sh\necho hello\n"


@pytest.mark.parametrize("text", ['RUN ["cat", "<<EOF"]', "RUN echo $((1<<2))", "RUN cat <<<word", "RUN echo <<",
                                  "ENV A=<<EOF", "CMD cat <<EOF", "LABEL a=<<EOF"])
def test_not_heredocs(text):
    """Exec form, arithmetic, here-strings, a bare <<, and instructions other than RUN/COPY/ADD:
    the next line is an instruction again, as in BuildKit."""
    df = parse(f"FROM busybox\n{text}\nUSER nobody\n")
    assert all(not i.heredocs for i in df.instructions) and df.instructions[2].cmd == "USER"


def test_unterminated_heredoc_names_its_line():
    with pytest.raises(DockerfileError) as exc:
        parse("FROM busybox\nRUN true\nRUN <<EOF\necho never ends\n")
    assert str(exc.value) == "Dockerfile:3: unterminated heredoc: no line 'EOF' ends it: RUN <<EOF"


def test_heredoc_script_shapes():
    from minicontainer.build.instructions import command, heredoc_script
    sh = ["/bin/sh", "-c"]
    simple = one("RUN <<EOF\necho a\necho b\nEOF\n")
    assert command(simple, sh) == sh + ["echo a\necho b\n"] and heredoc_script(simple)[1] is None
    tabs = one("RUN <<-EOF\n\techo a\nEOF\n")
    assert command(tabs, sh) == sh + ["echo a\n"]
    shebang = one("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n")
    path, doc = heredoc_script(shebang)
    assert path == "/dev/pipes/EOF" and doc.content.startswith("#!/usr/bin/env python3")
    assert command(shebang, sh) == sh + ["/dev/pipes/EOF"]
    stdin = one("RUN cat <<'EOF' > /f && cat <<X >> /f\n$HOME\nEOF\nx\nX\n")
    assert command(stdin, sh) == sh + ["cat <<'EOF' > /f && cat <<X >> /f\n$HOME\nEOF\nx\nX"]
    with pytest.raises(UsageError, match="cannot be a file name"):
        heredoc_script(one("RUN <<'a/b'\n#!/bin/sh\na/b\n"))


def test_copy_heredoc_sources_and_expansion():
    from minicontainer.build.instructions import copy_args
    inst = one("COPY <<A <<'B' file.txt /dest/\n$X \"q\" \\$X ${Y:-d}\nA\n$X\nB\n")
    sources, dest = copy_args(inst, {"X": "1"}, "\\")
    a, b, plain = sources
    assert dest == "/dest/" and plain == "file.txt"
    assert (a.name, a.body) == ("A", '1 "q" \\$X d\n')          # quotes and escapes kept, as BuildKit
    assert (b.name, b.body) == ("B", "$X\n")                      # quoted name: no expansion
    with pytest.raises(UsageError, match="cannot accept a heredoc as a destination"):
        copy_args(one("COPY x <<EOF\nbody\nEOF\n"), {}, "\\")


def test_onbuild_heredoc_is_refused_clearly():
    with pytest.raises(DockerfileError, match="heredocs in ONBUILD triggers are not supported"):
        parse("FROM busybox\nONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert one("ONBUILD RUN echo $((1<<2))").args == "RUN echo $((1<<2))"
