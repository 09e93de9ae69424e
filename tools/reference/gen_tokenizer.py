"""Tiny umT5-style tokenizer and the tokenizer golden.

1. Trains a SentencePiece Unigram model on tools/reference/tokenizer-corpus.txt
   with umT5's special-id layout (<pad>=0, </s>=1, <s>=2, <unk>=3, then the 256
   byte pieces <0x00>..<0xFF> at 4..259), byte fallback on, nmt_nfkc
   normalisation, one thread, fixed seed: identical bytes on every run.
2. Converts it to a `tokenizers` tokenizer.json with the structure of
   google/umt5-xxl (spec B.4; the structure of tokenizers'
   SentencePieceUnigramTokenizer.from_spm plus T5's post-processor):
     normalizer     Sequence[Precompiled(charsmap of the .model), Replace(/ {2,}/ -> " ")]
     pre_tokenizer  Metaspace(replacement "▁", prepend_scheme "always", split true)
     model          Unigram(unk_id 3, byte_fallback true), vocab = the .model's pieces and
                    scores, then <extra_id_{N-1}> .. <extra_id_0> (score 0), as umT5 appends
                    its 300 sentinels after the 256 000 SentencePiece pieces
     post_processor TemplateProcessing "$A </s>"
     decoder        Metaspace
   and writes tests/data/wan-tiny/tokenizer/ (tokenizer.json, tokenizer_config.json,
   special_tokens_map.json, spiece.model), the layout of the real tokenizer/ folder.
3. Tokenizes a corpus of hard strings the way diffusers' WanPipeline does
   (prompt_clean, then 512 tokens with truncation and </s>) and writes
   tests/data/goldens/tokenizer.safetensors.

Run through `make goldens` (tools/reference/make_goldens.py gen_tokenizer).
"""
import hashlib
import io
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 20250225
# SentencePiece pieces (specials + 256 bytes + learned pieces). umT5 has 256 000.
SPM_VOCAB_SIZE = 1000
# Sentinels appended after the SentencePiece pieces. umT5 has 300; a few suffice here.
NUM_EXTRA_IDS = 16
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer-corpus.txt")
TOKENIZER_DIR = os.path.join(common.TINY_MODEL, "tokenizer")
GOLDEN = os.path.join(common.GOLDENS, "tokenizer.safetensors")

PAD, EOS, BOS, UNK = "<pad>", "</s>", "<s>", "<unk>"
SPECIALS = [PAD, EOS, BOS, UNK]  # ids 0..3, as in umT5 (plain T5 differs: unk=2, no <s>)

# Spec B.6: the default negative prompt of the original Wan code, verbatim.
WAN_NEGATIVE_PROMPT_ZH = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
# Spec B.6: the English translation diffusers' examples pass.
WAN_NEGATIVE_PROMPT_EN = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
    "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
    "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, "
    "fused fingers, still picture, messy background, three legs, many people in the background, "
    "walking backwards"
)


def extra_id_tokens():
    """Sentinels in id order: <extra_id_{N-1}> gets the first id after the
    SentencePiece pieces and <extra_id_0> the last (umT5: 256000 -> <extra_id_299>)."""
    return [f"<extra_id_{i}>" for i in range(NUM_EXTRA_IDS - 1, -1, -1)]


def read_corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def train_spm():
    """Returns the serialized SentencePiece model (bytes)."""
    import sentencepiece as spm

    spm.set_random_generator_seed(SEED)
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(read_corpus()),
        model_writer=out,
        model_type="unigram",
        vocab_size=SPM_VOCAB_SIZE,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="nmt_nfkc",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        minloglevel=2,
    )
    return out.getvalue()


def build_tokenizer(model_bytes):
    """tokenizer.json with umT5's structure (see the module docstring)."""
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_bytes)
    spec = proto.trainer_spec
    assert (spec.pad_id, spec.eos_id, spec.bos_id, spec.unk_id) == (0, 1, 2, 3)
    assert [p.piece for p in proto.pieces[:4]] == SPECIALS
    assert proto.pieces[4].piece == "<0x00>" and proto.pieces[259].piece == "<0xFF>"
    assert spec.byte_fallback and proto.normalizer_spec.name == "nmt_nfkc"

    vocab = [(p.piece, p.score) for p in proto.pieces] + [(t, 0.0) for t in extra_id_tokens()]
    tok = Tokenizer(Unigram(vocab, unk_id=spec.unk_id, byte_fallback=spec.byte_fallback))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=["$A", EOS], pair=["$A", EOS, "$B", EOS], special_tokens=[(EOS, 1)]
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS + extra_id_tokens()])
    return tok, proto


def tokenizer_config(first_extra_id):
    """tokenizer_config.json laid out like google/umt5-xxl's (T5Tokenizer, extra_ids,
    added_tokens_decoder for the specials and the sentinels)."""
    entry = dict(lstrip=False, normalized=False, rstrip=False, single_word=False, special=True)
    decoder = {str(i): dict(entry, content=t) for i, t in enumerate(SPECIALS)}
    for k, t in enumerate(extra_id_tokens()):
        decoder[str(first_extra_id + k)] = dict(entry, content=t)
    return {
        "added_tokens_decoder": decoder,
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(NUM_EXTRA_IDS)],
        "bos_token": BOS,
        "clean_up_tokenization_spaces": True,
        "eos_token": EOS,
        "extra_ids": NUM_EXTRA_IDS,
        "legacy": True,
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": PAD,
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "T5Tokenizer",
        "unk_token": UNK,
    }


def special_tokens_map():
    return {
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(NUM_EXTRA_IDS)],
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": UNK,
    }


def write_folder(model_bytes):
    """Writes tests/data/wan-tiny/tokenizer/ and returns the number of tokens."""
    tok, proto = build_tokenizer(model_bytes)
    if os.path.isdir(TOKENIZER_DIR):
        shutil.rmtree(TOKENIZER_DIR)
    os.makedirs(TOKENIZER_DIR)
    with open(os.path.join(TOKENIZER_DIR, "spiece.model"), "wb") as f:
        f.write(model_bytes)
    tok.save(os.path.join(TOKENIZER_DIR, "tokenizer.json"), pretty=True)
    common.write_json(os.path.join(TOKENIZER_DIR, "tokenizer_config.json"), tokenizer_config(len(proto.pieces)))
    common.write_json(os.path.join(TOKENIZER_DIR, "special_tokens_map.json"), special_tokens_map())
    return tok.get_vocab_size(with_added_tokens=True)


def load_tokenizer_json():
    """The tokenizer exactly as tokenizer.json describes it (what the C engine implements)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(os.path.join(TOKENIZER_DIR, "tokenizer.json"))


def load_pipeline_tokenizer():
    """The tokenizer object diffusers' WanPipeline gets: model_index.json names
    transformers' T5TokenizerFast for tokenizer/."""
    from transformers import T5TokenizerFast

    return T5TokenizerFast.from_pretrained(TOKENIZER_DIR)


def _words_to_pieces(tok, words, target):
    """Joins @words (cycled) until the text encodes to exactly @target pieces
    (without </s>), topping up with the one-piece word "a"."""
    out, count, k = [], 0, 0
    while True:
        word = words[k % len(words)]
        n = len(tok.encode(word, add_special_tokens=False).ids)
        if count + n > target:
            break
        out.append(word)
        count += n
        k += 1
    out.extend(["a"] * (target - count))
    text = " ".join(out)
    assert len(tok.encode(text, add_special_tokens=False).ids) == target
    return text


def hard_strings(tok):
    """(name, text) pairs. Names are stable; the C tests refer to them."""
    long_words = ("A red fox walks across the snow at dawn , leaving 12 small prints ; "
                  "镜头 缓慢 移动 , café naïve Straße").split()
    overlong = " ".join(f"Scene {i}: a red fox walks across the snow, 镜头缓慢移动." for i in range(25))
    cases = [
        ("empty", ""),
        ("plain", "A red fox walks across the snow at dawn, leaving a line of small prints behind it."),
        ("accents", "café naïve Ærøskøbing — Straße in München, São Paulo, Zażółć gęślą jaźń, Příliš žluťoučký kůň"),
        ("decomposed_accents", "cafe\u0301 nai\u0308ve A\u030Arhus n\u0303 \u1E9B\u0323"),
        ("cjk", "一只红色的狐狸在清晨走过雪地。日本語のテキスト：こんにちは。한국어 문장: 안녕하세요. 龘𠀋"),
        ("negative_prompt_zh", WAN_NEGATIVE_PROMPT_ZH),
        ("negative_prompt_en", WAN_NEGATIVE_PROMPT_EN),
        ("emoji", "family 👨\u200d👩\u200d👧\u200d👦, thumbs 👍🏽, flag 🇫🇷, clip 🎬, sun ☀️, smile 😊, heart ❤\ufe0f"),
        ("whitespace", "  leading\t\ttabs and   runs \n\nnew\r\nlines\u00a0nbsp\u3000ideographic\u2003em\u2028sep   trailing  \t"),
        ("html_entities", "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; it&#39;s &quot;quoted&quot; &amp;lt;twice&amp;gt; "
                          "&nbsp;nbsp &#x4E2D;&#25991; &copy; &unknown; & alone"),
        ("punctuation", "Hello, world! (a) [b] {c} <d> «e» “f” ‘g’ — … a/b\\c|d ~`^ "
                        "，。！？：；（）【】「」『』ＡＢＣａｂｃ１２３＂＇"),
        ("numbers", "In 2025, 81 frames at 16 fps = 5.06 s; 832x480; 3.14159; 1,000,000; -42; 1e-6; ½ ² Ⅻ ①"),
        ("special_token_text", "a </s> b <pad> c <extra_id_0> d <s> e <unk> f <extra_id_99> g <0x41> h ▁ i"),
        ("invisible", "zero\u200bwidth soft\u00adhyphen bom\ufeffmark bell\u0007ctrl nul\u0000char"),
        ("scripts", "Ελληνικά Русский עברית العربية हिन्दी ไทย ქართული"),
        ("exact_511", _words_to_pieces(tok, long_words, common.TEXT_LEN - 1)),
        ("exact_512", _words_to_pieces(tok, long_words, common.TEXT_LEN)),
        ("overlong", overlong),
    ]
    names = [n for n, _ in cases]
    assert len(set(names)) == len(names)
    return cases


def _u8(text):
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)


def _i64(values):
    return torch.tensor(list(values), dtype=torch.int64)


def main():
    common.seed_everything(SEED)
    model_bytes = train_spm()
    n_tokens = write_folder(model_bytes)

    tok = load_tokenizer_json()
    padded = load_tokenizer_json()
    padded.enable_truncation(max_length=common.TEXT_LEN)
    padded.enable_padding(length=common.TEXT_LEN, pad_id=0, pad_token=PAD)
    pipe_tok = load_pipeline_tokenizer()
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_bytes)

    cases = hard_strings(tok)
    tensors = {}
    ids, mask, ids_tf, mask_tf = [], [], [], []
    agree_transformers, agree_sentencepiece, n_pieces = [], [], []
    for k, (name, text) in enumerate(cases):
        clean = common.prompt_clean(text)
        tokens = tok.encode(clean).ids  # untruncated, ends with </s>
        enc = padded.encode(clean)
        # The rule the C engine implements: keep 511 pieces at most, append </s>, pad with 0.
        expect = tokens[:-1][: common.TEXT_LEN - 1] + [1]
        n_real = len(expect)
        assert enc.ids == expect + [0] * (common.TEXT_LEN - n_real), name
        assert enc.attention_mask == [1] * n_real + [0] * (common.TEXT_LEN - n_real), name
        # Exactly the call in diffusers' WanPipeline._get_t5_prompt_embeds.
        tf = pipe_tok(
            [clean],
            padding="max_length",
            max_length=common.TEXT_LEN,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        key = f"{k:02d}"
        tensors[f"text.{key}"] = _u8(text)
        tensors[f"clean.{key}"] = _u8(clean)
        tensors[f"tokens.{key}"] = _i64(tokens)
        tensors[f"tokens_uncleaned.{key}"] = _i64(tok.encode(text).ids)
        ids.append(enc.ids)
        mask.append(enc.attention_mask)
        ids_tf.append(tf.input_ids[0].tolist())
        mask_tf.append(tf.attention_mask[0].tolist())
        agree_transformers.append(ids[-1] == ids_tf[-1] and mask[-1] == mask_tf[-1])
        agree_sentencepiece.append(tokens == sp.encode(clean) + [1])
        n_pieces.append(len(tokens) - 1)

    tensors["ids"] = torch.tensor(ids, dtype=torch.int64)
    tensors["mask"] = torch.tensor(mask, dtype=torch.int64)
    tensors["n_real"] = tensors["mask"].sum(dim=1)
    tensors["ids_transformers"] = torch.tensor(ids_tf, dtype=torch.int64)
    tensors["mask_transformers"] = torch.tensor(mask_tf, dtype=torch.int64)

    common.save_golden(
        GOLDEN,
        tensors,
        __file__,
        SEED,
        names=[n for n, _ in cases],
        strings=json.dumps([t for _, t in cases], ensure_ascii=False),
        text_len=common.TEXT_LEN,
        tokenizer_size=n_tokens,
        spm_vocab_size=len(sp),
        num_extra_ids=NUM_EXTRA_IDS,
        special_ids={"pad": 0, "eos": 1, "bos": 2, "unk": 3},
        spiece_model_sha256=hashlib.sha256(model_bytes).hexdigest(),
        pieces_without_eos=n_pieces,
        agrees_with_transformers=agree_transformers,
        agrees_with_sentencepiece=agree_sentencepiece,
        ftfy="not installed: prompt_clean = html.unescape twice, strip, \\s+ -> ' ', strip",
    )
    print(f"tokenizer: {n_tokens} tokens ({len(sp)} SentencePiece pieces + {NUM_EXTRA_IDS} sentinels), "
          f"{len(cases)} strings; transformers agrees on {sum(agree_transformers)}, "
          f"sentencepiece on {sum(agree_sentencepiece)}")
    for (name, _), a, b, n in zip(cases, agree_transformers, agree_sentencepiece, n_pieces):
        print(f"  {name:20s} pieces={n:4d} transformers={'same' if a else 'DIFF'} sentencepiece={'same' if b else 'DIFF'}")


if __name__ == "__main__":
    main()
