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
