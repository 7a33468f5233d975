"""The packaged catalog against the user's model list and the packaged dictionaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrserve.errors import ModelError, NotFound
from ocrserve.models.catalog import (
    dictionary_lines,
    dictionary_path,
    get_entry,
    load_catalog,
    rec_num_classes,
)

HOST = "https://paddleocr.bj.bcebos.com/"

# The user's model list (seed model_list.md), in its order.
LISTED = [
    "ch_PP-OCRv2_det_slim",
    "ch_PP-OCRv2_det",
    "ch_PP-OCRv2_rec_slim",
    "ch_PP-OCRv2_rec",
    "en_number_mobile_slim_v2.0_rec",
    "en_number_mobile_v2.0_rec",
    "french_mobile_v2.0_rec",
    "german_mobile_v2.0_rec",
    "korean_mobile_v2.0_rec",
    "japan_mobile_v2.0_rec",
    "chinese_cht_mobile_v2.0_rec",
    "te_mobile_v2.0_rec",
    "ka_mobile_v2.0_rec",
    "ta_mobile_v2.0_rec",
    "latin_mobile_v2.0_rec",
    "arabic_mobile_v2.0_rec",
    "cyrillic_mobile_v2.0_rec",
    "devanagari_mobile_v2.0_rec",
    "ch_ppocr_mobile_slim_v2.0_cls",
    "ch_ppocr_mobile_v2.0_cls",
]
EXTRAS = ["ch_PP-OCRv3_det", "ch_PP-OCRv3_rec", "ch_PP-OCRv4_det", "ch_PP-OCRv4_rec"]

# Output classes = dictionary lines + blank + appended space; these match the
# models' declared outputs (6625 for ch_PP-OCRv2_rec and ch_PP-OCRv4_rec).
NUM_CLASSES = {
    "ppocr_keys_v1.txt": 6625,
    "en_dict.txt": 97,
    "french_dict.txt": 138,
    "german_dict.txt": 145,
    "korean_dict.txt": 3690,
    "japan_dict.txt": 4401,
    "chinese_cht_dict.txt": 8423,
    "te_dict.txt": 153,
    "ka_dict.txt": 155,
    "ta_dict.txt": 130,
    "latin_dict.txt": 187,
    "arabic_dict.txt": 164,
    "cyrillic_dict.txt": 165,
    "devanagari_dict.txt": 169,
}
MULTILINGUAL = ["french", "german", "korean", "japan", "chinese_cht", "te", "ka", "ta",
                "latin", "arabic", "cyrillic", "devanagari"]


def test_catalog_holds_the_list_in_order_then_the_extras() -> None:
    catalog = load_catalog()
    assert list(catalog) == LISTED + EXTRAS
    assert [n for n, e in catalog.items() if e.extra] == EXTRAS


def test_kinds_and_slim_flags_follow_the_names() -> None:
    for name, entry in load_catalog().items():
        assert entry.kind in name.split("_")
        assert entry.slim == ("slim" in name)


def test_input_shapes_by_kind_and_generation() -> None:
    for name, entry in load_catalog().items():
        expected = {
            "det": (3, None, None),
            "cls": (3, 48, 192),
            "rec": (3, 48, None) if "v3" in name or "v4" in name else (3, 32, None),
        }[entry.kind]
        assert entry.input_shape == expected, name
        assert entry.base_width == (320 if entry.kind == "rec" else None), name


def test_languages_use_paddleocr_codes() -> None:
    catalog = load_catalog()
    assert {catalog[f"{lang}_mobile_v2.0_rec"].language for lang in MULTILINGUAL} == set(
        MULTILINGUAL
    )
    assert catalog["en_number_mobile_v2.0_rec"].language == "en"
    assert {e.language for n, e in catalog.items() if n.startswith("ch_")} == {"ch"}


def test_rec_dictionaries_exist_and_give_the_class_counts() -> None:
    recs = [e for e in load_catalog().values() if e.kind == "rec"]
    assert {e.dictionary for e in recs} == set(NUM_CLASSES)
    for entry in recs:
        assert entry.dictionary is not None
        assert rec_num_classes(dictionary_path(entry)) == NUM_CLASSES[entry.dictionary]
    for entry in load_catalog().values():
        if entry.kind != "rec":
            assert entry.dictionary is None


def test_dictionary_lines_keep_space_and_tab_characters() -> None:
    en = dictionary_lines(dictionary_path(get_entry("en_number_mobile_v2.0_rec")))
    assert en[:10] == list("0123456789")
    assert " " in en
    german = dictionary_lines(dictionary_path(get_entry("german_mobile_v2.0_rec")))
    assert "p\t" in german  # a quirk of the original file, kept so indices match


def test_dictionary_lines_read_as_paddleocr_does(tmp_path: Path) -> None:
    path = tmp_path / "dict.txt"
    path.write_bytes("a\r\n \nß\n你\n\u3000\n".encode())
    assert dictionary_lines(path) == ["a", " ", "ß", "你", "\u3000"]
    path.write_bytes(b"x\ny")  # no final newline
    assert dictionary_lines(str(path)) == ["x", "y"]
    path.write_bytes(b"\xff\n")
    with pytest.raises(ModelError, match="UTF-8"):
        dictionary_lines(path)


def test_urls_are_the_official_ones() -> None:
    catalog = load_catalog()
    for entry in catalog.values():
        assert entry.inference_url.startswith(HOST)
        assert entry.inference_url.endswith("_infer.tar")
        assert entry.trained_url is None or entry.trained_url.endswith("_train.tar")
    assert catalog["latin_mobile_v2.0_rec"].inference_url == (
        HOST + "dygraph_v2.0/multilingual/latin_ppocr_mobile_v2.0_rec_infer.tar"
    )
    assert catalog["ch_PP-OCRv2_det_slim"].inference_url == (
        HOST + "PP-OCRv2/chinese/ch_PP-OCRv2_det_slim_quant_infer.tar"
    )
    assert catalog["ch_PP-OCRv4_rec"].inference_url == (
        HOST + "PP-OCRv4/chinese/ch_PP-OCRv4_rec_infer.tar"
    )
    # The list links the slim cls "trained model" to a rec file: left out on purpose.
    assert catalog["ch_ppocr_mobile_slim_v2.0_cls"].trained_url is None


def test_unknown_names_and_missing_dictionaries_raise_not_found() -> None:
    with pytest.raises(NotFound, match="not in the catalog"):
        get_entry("no_such_model")
    with pytest.raises(NotFound, match="no dictionary"):
        dictionary_path(get_entry("ch_PP-OCRv2_det"))
