"""SentencePiece fixtures for NMTDataTests.SentencePieceTests, made with the Python
`sentencepiece` package (pip install sentencepiece==0.1.97, the version Debian 12's
libsentencepiece has).

Trains a unigram and a BPE model of 400 pieces on the Ding test corpus
(Tests/NMTDataTests/Fixtures/test.en and test.de, one thread, so training is
repeatable), writes a stress file (NFKC-sensitive characters, runs of spaces, tabs,
emoji, CJK, combining marks, an empty line) and records, for every line of the stress
file and of test.en, each model's ids, pieces and decoded text.

    python3 Scripts/reference/sentencepiece_reference.py

Writes Tests/NMTDataTests/Fixtures/sentencepiece/{unigram,bpe}.model, stress.txt and
expected.json.
"""
import json
import os

import sentencepiece as spm

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
FIXTURES = os.path.join(ROOT, "Tests", "NMTDataTests", "Fixtures")
OUT = os.path.join(FIXTURES, "sentencepiece")

STRESS = [
    "The ﬁrst ﬂoor, ＦＵＬＬ-width ＡＢＣ and ① ② ③ circled digits.",
    "Runs   of    spaces,\ttabs\t\tand  trailing  ",
    "   leading spaces",
    "",
    "Emoji 🙂🚀 and a family 👨‍👩‍👧 in one line.",
    "CJK 漢字とかなカナ 한국어 text",
    "Combining marks: e\u0301 a\u0308 o\u0302 vs é ä ô",
    "Müßiggang ist aller Laster Anfang, sagte Herr Größe.",
    "Zero\u200bwidth and non\u00a0breaking spaces",
    "ℌℑ Ⅻ ﬀ ﬃ ㎏ ㎞ ¼ ½",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    stress_path = os.path.join(OUT, "stress.txt")
    with open(stress_path, "w", encoding="utf-8") as f:
        f.write("\n".join(STRESS) + "\n")
    inputs = ",".join(os.path.join(FIXTURES, name) for name in ("test.en", "test.de"))
    for model_type in ("unigram", "bpe"):
        spm.SentencePieceTrainer.train(
            input=inputs, model_prefix=os.path.join(OUT, model_type), vocab_size=400, model_type=model_type,
            num_threads=1, minloglevel=1)
        os.remove(os.path.join(OUT, model_type + ".vocab"))
    with open(os.path.join(FIXTURES, "test.en"), encoding="utf-8") as f:
        test_lines = f.read().split("\n")[:200]
    expected = {}
    for model_type in ("unigram", "bpe"):
        model = spm.SentencePieceProcessor(model_file=os.path.join(OUT, model_type + ".model"))
        rows = []
        for line in STRESS + test_lines:
            ids = model.encode(line)
            rows.append({"text": line, "ids": ids, "pieces": model.encode(line, out_type=str), "decoded": model.decode(ids)})
        expected[model_type] = {"vocabulary_size": model.get_piece_size(), "unknown_id": model.unk_id(),
                                "begin_id": model.bos_id(), "end_id": model.eos_id(), "rows": rows}
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
