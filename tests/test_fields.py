import datetime as dt

import pytest

from ehforms.forms.dates import parse_date
from ehforms.forms.fields import nhs_number_valid, normalise_postcode, postcode_district


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M8 5AB", "M8 5AB"),
        ("m8 5ab", "M8 5AB"),
        ("  m85ab ", "M8 5AB"),
        ("M13  9PL", "M13 9PL"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("EC1A1BB", "EC1A 1BB"),
        ("GIR 0AA", "GIR 0AA"),
        ("M8", None),
        ("M8 5A", None),
        ("8M 5AB", None),
        ("M8 5CI", None),
        ("12345", None),
        ("", None),
    ],
)
def test_postcodes_are_normalised_or_refused(text, expected):
    assert normalise_postcode(text) == expected


def test_a_district_is_the_outward_code():
    assert postcode_district("M11 2AB") == "M11"
    assert postcode_district("M1 2AB") == "M1"


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("9434765919", True),
        ("9434765918", False),
        ("4010232137", True),
        ("4010232138", False),
        # weights give 11 - 0 = 11, so the check digit is 0
        ("0000000000", True),
    ],
)
def test_nhs_number_modulus_11(digits, valid):
    assert nhs_number_valid(digits) is valid


def test_an_nhs_number_whose_check_would_be_10_is_never_valid():
    # find nine digits whose weighted sum leaves 1, so 11 - 1 = 10: no check digit fits
    digits = next(
        f"{n:09d}"
        for n in range(10**8, 10**8 + 1000)
        if 11 - sum(int(d) * w for d, w in zip(f"{n:09d}", range(10, 1, -1), strict=True)) % 11
        == 10
    )
    assert not any(nhs_number_valid(digits + str(last)) for last in range(10))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", dt.date(2026, 11, 20)),
        ("20/11/2026", dt.date(2026, 11, 20)),
        ("5/1/2026", dt.date(2026, 1, 5)),
        ("05/01/2026", dt.date(2026, 1, 5)),
        ("11/20/2026", None),  # the US order is never read
        ("2026-02-30", None),
        ("20/11/26", None),
        ("20-11-2026", None),
        ("2026-1-5", None),
        ("20261120", None),
        ("tomorrow", None),
    ],
)
def test_dates_are_iso_or_uk(text, expected):
    assert parse_date(text) == expected


def test_a_misspelt_date_rule_fails_at_once():
    """A typo such as ``when="past "`` must not silently check nothing."""
    import pytest

    from ehforms.forms.dates import Date

    with pytest.raises(ValueError):
        Date("date of birth", when="past ")
