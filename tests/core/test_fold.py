"""The one form identifiers are compared in, and the characters a search narrows on."""

from __future__ import annotations

import unicodedata

from notifier.core.fold import fold, variants_of


def test_composed_and_combining_accents_and_case_beyond_ascii_fold_together() -> None:
    nfd = unicodedata.normalize("NFD", "Élodie.Müller@exemple.fr")
    assert nfd != "Élodie.Müller@exemple.fr"
    assert fold(nfd) == fold("élodie.müller@exemple.fr") == fold("ÉLODIE.MÜLLER@EXEMPLE.FR")
    # Accents are not stripped: these are other people.
    assert fold("elodie.muller@exemple.fr") != fold("élodie.müller@exemple.fr")
    # Kelvin sign, long s, circled and mathematical letters are their letters.
    assert fold("\u212aim.\u017fun@ⓔxample.𝐜om") == "kim.sun@example.com"


def test_a_text_naming_the_address_in_another_form_holds_one_of_its_variants() -> None:
    variants = variants_of("fiona@example.com", "fiona%40example.com")
    for text in ("ﬁona@example.com", "ＦＩＯＮＡ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "fiona\uff20example.com",
                 "https://shop.example/?from=%EF%BD%86iona%40example.com", "https://x/?m=%ef%bc%a0"):
        assert variants.found_in(text), text
    # Ordinary French text, accents, typographic apostrophes, ellipses and no-break spaces:
    # nothing that folds into this address, so the database does not send it to Python.
    for text in ("Où est ma commande ? Je l’attends… depuis le 3\u00a0mai", "élodie.durand@exemple.fr",
                 "https://shop.example/cat%C3%A9gorie"):
        assert not variants.found_in(text), text


def test_sharp_s_is_a_variant_only_of_an_address_with_ss() -> None:
    assert variants_of("strasse@example.de").found_in("Straße")
    assert not variants_of("jean@example.com").found_in("Straße")


def test_every_spelling_of_an_address_is_narrowed_to_and_confirmed() -> None:
    # Each character of the address typed as any character that folds to it (fullwidth,
    # mathematical, circled, superscript…), or a ligature for two: the database's narrowing
    # (the ASCII address in any case, or a variant) takes the text, and Python confirms it.
    import random

    from notifier.core.fold import _folding_to_ascii
    from notifier.core.subject import Subject

    spellings: dict[str, list[str]] = {}
    for char, folded in _folding_to_ascii().items():
        spellings.setdefault(folded, []).append(char)
    rng = random.Random(20261129)
    for address in ("jean.martin-42@example.com", "fiona.strasse@ffi.example.org", "élodie.k@exemple.fr"):
        subject = Subject.email(address)
        a, b = subject.needles
        for _ in range(200):
            typed, i = "", 0
            while i < len(address):
                two = address[i:i + 2]
                if two in spellings and rng.random() < 0.3:
                    typed, i = typed + rng.choice(spellings[two]), i + 2
                    continue
                ch = address[i]
                choices = [ch, ch.upper(), *spellings.get(ch, [])]
                typed, i = typed + rng.choice(choices), i + 1
            text = f"écrivez à {typed} svp"
            assert fold(typed) == subject.value, typed
            assert a in text.lower() or b in text.lower() or subject.variants.found_in(text), typed
            assert subject.mentioned_in({"message": text}), typed
