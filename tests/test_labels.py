import pytest

from pettrack.model.labels import parse_line, read_labels


@pytest.mark.parametrize(
    "line, expected",
    [
        ('beagle_100.jpg,"(71, 211)"', ("beagle_100.jpg", 71.0, 211.0)),
        ('shiba_inu_136.webp,"(139.8, 155.9)"', ("shiba_inu_136.webp", 139.8, 155.9)),
        ('  a b.png , "( 1.5 ,2 )"  ', ("a b.png", 1.5, 2.0)),
        ("x.jpg,(3, 4)", ("x.jpg", 3.0, 4.0)),
        ('"odd,name.jpg","(5, 6)"', ("odd,name.jpg", 5.0, 6.0)),
    ],
)
def test_good_lines(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ['x.jpg,"(1; 2)"', 'x.jpg,"(1)"', '"(1, 2)"', "x.jpg", 'x.jpg,"(a, 2)"', 'x.jpg,"(-1, 2)"'])
def test_bad_lines_raise(line):
    with pytest.raises(ValueError):
        parse_line(line)


def test_file_with_crlf_blank_lines_bom_and_bad_lines(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(
        "\ufeffa.jpg,\"(1, 2)\"\r\n\r\nb.jpg,\"(3.5, 4.25)\"\r\nbroken line\r\na.jpg,\"(9, 9)\"\r\nc.jpg,\"(5, x)\"\r\n".encode()
    )
    result = read_labels(path)
    assert [(l.name, l.x, l.y, l.line) for l in result.labels] == [("a.jpg", 1, 2, 1), ("b.jpg", 3.5, 4.25, 3)]
    assert [p.line for p in result.problems] == [4, 5, 6]
    assert "duplicate of line 1" in result.problems[1].reason
    assert "labels.txt:4" in result.problems[0].describe(path)


def test_lines_that_are_not_utf8_are_problems_and_the_rest_is_read(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b'\xff\xfe\x00\x81garbage\nbeagle_100.jpg,"(71, 211)"\n')
    parsed = read_labels(path)
    assert [label.name for label in parsed.labels] == ["beagle_100.jpg"]
    (problem,) = parsed.problems
    assert problem.line == 1 and "not UTF-8" in problem.reason and "\\xff" in problem.shown


def test_a_nul_byte_in_an_image_name_is_one_clear_problem(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b'a\x00b.jpg,"(1, 2)"\nc.jpg,"(3, 4)"\n')
    result = read_labels(path)
    assert [label.name for label in result.labels] == ["c.jpg"]
    assert result.problems[0].line == 1 and result.problems[0].reason == "the image name contains a NUL byte"
