#!/usr/bin/env python3
"""Makes the BLEU fixtures of Tests/NMTTransformerTests and prints sacreBLEU's scores.

Reference: the first 300 lines of the Ding test set (German). Hypothesis: the same lines
perturbed deterministically (a word dropped, neighbours swapped, a first word lowercased),
so that every n-gram order has partial matches. Needs `pip install sacrebleu`.
Run: python3 Scripts/reference/bleu_reference.py ../shared/data/ding/test.de
"""
import sys

import sacrebleu

source = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ding/test.de"
with open(source, encoding="utf-8") as f:
    refs = [line.rstrip("\n") for line in f][:300]

hyps = []
for i, line in enumerate(refs):
    words = line.split()
    if i % 3 == 0 and len(words) > 2:
        del words[i % len(words)]
    if i % 5 == 0 and len(words) > 3:
        j = i % (len(words) - 1)
        words[j], words[j + 1] = words[j + 1], words[j]
    if i % 7 == 0 and words:
        words[0] = words[0].lower()
    hyps.append(" ".join(words))

out = "Tests/NMTTransformerTests/Fixtures"
with open(f"{out}/bleu.ref.de", "w", encoding="utf-8") as f:
    f.write("\n".join(refs) + "\n")
with open(f"{out}/bleu.hyp.de", "w", encoding="utf-8") as f:
    f.write("\n".join(hyps) + "\n")

for tok in ("intl", "13a"):
    for lc in (False, True):
        score = sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok, lowercase=lc).score
        print(f"tok {tok} lowercase {lc}: {score:.6f}")

for text in ["Test0, 1 two, 3", "It costs $3,000.50 (approx.) in 2014.", "U.S.A. is big.", "Don't stop", "5% of x",
             "Straße „Zitat“ — 3–4 × 2 = 6 € ½!", "a-b 1-2 x.y 3.5, &amp; &lt;tag&gt; (ok)?"]:
    print(repr(text))
    print("  intl:", sacrebleu.tokenizers.tokenizer_intl.TokenizerV14International()(text).split())
    print("  13a: ", sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()(text).split())
