"""The Ding dictionary's word and phrase entries as extra training pairs (recipe experiment).

    python3 Scripts/experiments/ding-phrases.py DICTIONARY TEXT_DIR OUT_DIR MAX_WORDS

Writes OUT_DIR/phrases.{en,de} (every aligned word or phrase sub-entry that is not a
sentence, first synonym, markup removed, at most MAX_WORDS words a side, no placeholders,
none equal to a dev or test line of TEXT_DIR) and OUT_DIR/known.{en,de} (those whose
words all occur in TEXT_DIR/train.*). Documentation/Training.md records what adding
them to the training sentences did (it made dev BLEU worse), so the library does not ship
this; the script keeps the experiment reproducible.
"""
import re
import sys

dictionary, text_dir, out_dir, max_words = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
held_out = set()
for split in ("dev", "test"):
    for lang in ("en", "de"):
        held_out.update(line.strip() for line in open(f"{text_dir}/{split}.{lang}", encoding="utf-8"))
placeholders = ["etw.", "jdn.", "jdm.", "jds.", "jd.", "sth.", "sb.", "sb's", "sb’s", "so.", "s.o."]



def write_pairs(name, pairs):
    """Writes OUT_DIR/NAME.en and OUT_DIR/NAME.de, one pair per line."""
    with open(f"{out_dir}/{name}.en", "w", encoding="utf-8") as en_file, \
            open(f"{out_dir}/{name}.de", "w", encoding="utf-8") as de_file:
        for en, de in pairs:
            en_file.write(en + "\n")
            de_file.write(de + "\n")


def strip(t):
    for _ in range(3):
        t = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]|\([^()]*\)", "", t)
    t = re.sub(r"(^| )/[^ /]+/", " ", t)
    return " ".join(t.split())


def is_sentence(t):
    w = t.split()
    return len(w) >= 3 and t[:1].isupper() and t[-1:] in ".!?…"


seen = set()
pairs = []
for line in open(dictionary, encoding="utf-8"):
    if line.startswith("#") or " :: " not in line:
        continue
    de_side, en_side = line.rstrip("\n").split(" :: ", 1)
    des, ens = de_side.split(" | "), en_side.split(" | ")
    if len(des) != len(ens):
        continue
    for de, en in zip(des, ens):
        de, en = strip(de.split("; ")[0]), strip(en.split("; ")[0])
        if not de or not en or is_sentence(de) or is_sentence(en):
            continue
        if len(de.split()) > max_words or len(en.split()) > max_words:
            continue
        if any(p in w for w in (de + " " + en).split() for p in placeholders):
            continue
        if de in held_out or en in held_out or (en, de) in seen:
            continue
        seen.add((en, de))
        pairs.append((en, de))
write_pairs("phrases", pairs)
print(len(pairs), "phrase pairs")


def words(text):
    return re.findall(r"\w+", text.lower())


known_en = {w for line in open(f"{text_dir}/train.en", encoding="utf-8") for w in words(line)}
known_de = {w for line in open(f"{text_dir}/train.de", encoding="utf-8") for w in words(line)}
known = [(en, de) for en, de in pairs
         if all(w in known_en for w in words(en)) and all(w in known_de for w in words(de))]
write_pairs("known", known)
print(len(known), "of them with words of the training sentences only")
