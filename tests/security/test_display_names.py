"""Display names that could spoof another person are refused (PRECIS Nickname, RFC 8266).

Over both versions through the public API: bidirectional overrides, zero-width and other
invisible characters are 422 validation-failed naming `display_name`; names in any script
are accepted, stored as the profile enforces them (spaces trimmed and collapsed, NFKC).
"""

from __future__ import annotations

import pytest

from tests.support.api_client import ApiClient

PROBLEMS = "https://snappy.example/problems/"

SPOOFING_NAMES = {
    "right-to-left override": "Alice\u202eecilA",
    "left-to-right override": "\u202dAlice",
    "right-to-left isolate": "Alice\u2067Bob\u2069",
    "right-to-left mark": "Alice\u200f",
    "arabic letter mark": "\u061cAlice",
    "zero width space": "Ali\u200bce",
    "zero width joiner": "Ali\u200dce",
    "zero width non-joiner": "Ali\u200cce",
    "byte order mark": "\ufeffAlice",
    "word joiner": "Ali\u2060ce",
    "soft hyphen": "Ali\u00adce",
    "combining grapheme joiner": "Ali\u034fce",
    "mongolian vowel separator": "Ali\u180ece",
    "variation selector": "Alice\ufe0f",
    "tag characters": "Alice\U000e0041\U000e0042",
    "hangul filler": "\u3164",
    "hangul jungseong filler": "Alice\u1160",
    "c1 control": "Alice\u0085",
    "line separator": "Alice\u2028Bob",
    "private use": "Alice\ue000",
    "unassigned": "Alice\u0378",
    "spaces only": "   ",
    "ideographic space only": "\u3000",
    "no-break spaces only": "\u00a0\u00a0",
}

# Accepted, and stored as written.
NAMES_KEPT_AS_WRITTEN = {
    "latin with diaeresis": "Zoë",
    "han": "李小龙",
    "arabic": "محمد",
    "hebrew": "דוד",
    "cyrillic": "Ёлка Иванова",
    "devanagari": "अनुष्का",
    "greek": "Σωκράτης",
    "emoji": "Alice 😀",
    "apostrophe and hyphen": "Anne-Marie O'Neil",
}
# Accepted, and stored as the profile enforces them: (as sent, as stored).
NAMES_ENFORCED = {
    "dutch ij ligature": ("Ĳsbrand", "IJsbrand"),
    "spaces trimmed and collapsed": ("  Alice   Liddell ", "Alice Liddell"),
    "no-break space mapped": ("Alice\u00a0Liddell", "Alice Liddell"),
    "full-width letters": ("Ａｌｉｃｅ", "Alice"),
}
LEGITIMATE_NAMES = {
    **{label: (name, name) for label, name in NAMES_KEPT_AS_WRITTEN.items()},
    **NAMES_ENFORCED,
}


@pytest.mark.parametrize("name", SPOOFING_NAMES.values(), ids=SPOOFING_NAMES.keys())
def test_a_spoofing_display_name_is_refused(api: ApiClient, name: str) -> None:
    response = api.post(
        "/api/v1/users", json={"username": "spoofer", "password": "correct-horse", "display_name": name}
    )

    assert response.status_code == 422, response.get_data(as_text=True)
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert [error["field"] for error in problem["errors"]] == ["display_name"]
    assert api.get("/api/v1/users/spoofer", api.user_with_token("witness")).status_code == 404


@pytest.mark.parametrize(("name", "stored"), LEGITIMATE_NAMES.values(), ids=LEGITIMATE_NAMES.keys())
def test_a_display_name_in_any_script_is_accepted(api: ApiClient, name: str, stored: str) -> None:
    created = api.post(
        "/api/v1/users", json={"username": "someone", "password": "correct-horse", "display_name": name}
    )
    token = api.log_in("someone")

    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["display_name"] == stored
    assert api.get("/api/v1/users/someone", token).get_json()["display_name"] == stored


def test_the_refusal_names_the_character(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/users",
        json={"username": "spoofer", "password": "correct-horse", "display_name": "Alice\u202eecilA"},
    )

    assert response.status_code == 422
    assert "U+202E" in response.get_json()["errors"][0]["message"]
