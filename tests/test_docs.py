"""The docs are true: generated blocks match their generator, links resolve, the
paper's tables agree with each other, and what docs/authors-prototxt.md says of
OUR micro-attention net holds for the committed prototxt. Plain Python (no
Caffe): the prototxt are read with a small text-format reader."""
import importlib.util
import re
import subprocess
import sys

import pytest

from microattention import paper, protocols

STAGES = (64, 128, 256, 512)


def load_tool(project_root, name):
    spec = importlib.util.spec_from_file_location(name, str(project_root / "tools" / (name + ".py")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_docs(project_root):
    return load_tool(project_root, "make_docs")


# ------------------------------------------------------------ generated blocks

def test_paper_setup_matches_its_generator(project_root):
    r = subprocess.run([sys.executable, str(project_root / "tools" / "make_docs.py"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout


def test_generator_notices_a_hand_edit(make_docs, project_root):
    text = (project_root / "docs" / "paper-setup.md").read_text(encoding="utf-8")
    assert make_docs.render(text) == text
    edited = text.replace("| momentum | 0.9 |", "| momentum | 0.99 |", 1)
    assert edited != text
    assert make_docs.render(edited) == text


def test_protocol_table_quotes_every_setting_and_marks_every_choice(make_docs):
    block = make_docs.block_protocols()
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:]
            for line in block.splitlines() if line.startswith("| ")}
    names = list(protocols.PROTOCOLS)
    lr = [cell.split()[0] for cell in rows["base lr"]]
    assert [float(x) for x in lr] == [protocols.PROTOCOLS[n].base_lr for n in names]
    decay = [cell.split()[0] for cell in rows["weight decay"]]
    assert [float(x) for x in decay] == [protocols.PROTOCOLS[n].weight_decay for n in names]
    marked = sum(line.count(make_docs.CHOICE_MARK) for line in block.splitlines()
                 if line.startswith("| "))
    assert marked == len(protocols.CHOICES)
    for (name, field), why in protocols.CHOICES.items():
        assert "- `%s` %s: %s." % (name, field, why) in block


def test_protocol_rates_are_not_retyped_in_the_prose(make_docs, project_root):
    text = (project_root / "docs" / "paper-setup.md").read_text(encoding="utf-8")
    prose = re.sub(r"<!-- generated: .*?<!-- end generated: [\w-]+ -->", "", text, flags=re.S)
    for p in protocols.PROTOCOLS.values():
        for value in (p.base_lr, p.weight_decay):
            assert make_docs.number(value) not in prose, make_docs.number(value)


def test_number_format(make_docs):
    assert [make_docs.number(x) for x in (1e-4, 5e-6, 3e-2, 0.01, 0.9, 20, 10.0, True)] == \
        ["1e-4", "5e-6", "3e-2", "1e-2", "0.9", "20", "10", "yes"]


# ------------------------------------------------------------ links

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def doc_files(root):
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md")) + \
        [root / d / "README.md" for d in ("prototxt", "weights", "solvers", "tools/slurm")]
    # certs/ brings only certificates into the image (.dockerignore): its
    # README is checked in a checkout, not in the image.
    certs = root / "certs" / "README.md"
    return docs + ([certs] if certs.is_file() else [])


def test_every_relative_link_points_to_a_file(project_root):
    checked = 0
    for doc in doc_files(project_root):
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            assert path.exists(), "%s links to %s, which does not exist" % (doc.name, target)
            checked += 1
    assert checked >= 8


def test_readme_makes_no_claim_of_missing_things(project_root):
    readme = (project_root / "README.md").read_text(encoding="utf-8")
    assert "embedded demo data" not in readme
    assert "reference notes" not in readme
    assert "docs/paper-setup.md" in readme and "docs/authors-prototxt.md" in readme
    layout = (project_root / "docs" / "datasets-layout.md").read_text(encoding="utf-8")
    assert "docker compose run --rm test" in layout


# ------------------------------------------------------------ the paper's tables

def test_table5_rows_are_percentages_of_whole_samples(make_docs):
    for row in paper.TABLE5:
        assert abs(sum(row) - 100.0) <= 0.02, row
    assert make_docs.rounding_error() < 0.01
    sizes, counts = make_docs.cde_counts()
    assert sum(sizes) == 253 and [sum(r) for r in counts] == sizes


def test_table5_gives_table4_accuracy_and_uf1_not_megc2018_f1(make_docs):
    _, counts = make_docs.cde_counts()
    m = make_docs.metrics_of(counts)
    t4 = paper.TABLE4["micro_attention"]
    assert round(m["war"], 3) == t4["accuracy"]
    assert round(m["uf1_megc2019"], 3) == t4["f1"]
    assert round(m["f1_megc2018"], 3) != t4["f1"]


def test_metrics_of_a_known_matrix(make_docs):
    # 2 classes: [[3, 1], [2, 4]]: recall 3/4, 4/6; precision 3/5, 4/5.
    m = make_docs.metrics_of([[3, 1], [2, 4]])
    assert m["war"] == pytest.approx(0.7)
    assert m["uar"] == pytest.approx((0.75 + 4 / 6) / 2)
    p, r = (0.6 + 0.8) / 2, (0.75 + 4 / 6) / 2
    assert m["f1_megc2018"] == pytest.approx(2 * p * r / (p + r))
    assert m["uf1_megc2019"] == pytest.approx((6 / 9 + 8 / 11) / 2)


def test_pretraining_sets_add_up_to_the_stated_total():
    assert sum(paper.PRETRAIN_IMAGES.values()) == 10431  # section 4.1: "In total, 10431 images"


def test_methods_and_tables_agree():
    for t in (paper.TABLE2, paper.TABLE3, paper.TABLE4, paper.TABLE6):
        assert set(t) <= set(paper.METHODS)
    assert list(paper.TABLE3) == ["resnet10", "complex_attention", "micro_attention"]
    for ds in ("casme2", "samm"):
        assert tuple(paper.TABLE1[ds])[:5] == paper.CLASSES
    assert tuple(paper.TABLE1["smic"]) == paper.SMIC_CLASSES


def test_fixture_counts_are_the_papers(project_root):
    sys.path.insert(0, str(project_root / "tests"))
    try:
        import dataset_fixtures as fx
    finally:
        sys.path.remove(str(project_root / "tests"))
    for ds in ("casme2", "samm"):
        assert {fx.NAMES[k]: v for k, v in fx.TABLE1[ds].items()} == dict(paper.TABLE1[ds])
    assert fx.TABLE1["smic"] == dict(paper.TABLE1["smic"])


# ------------------------------------------------------------ our prototxt, as documented

TOKEN = re.compile(r'\s*(?:#[^\n]*\n|"((?:[^"\\]|\\.)*)"|([{}:])|([^\s{}:"#]+))')


def parse_prototxt(text):
    """Protobuf text format -> {field: [values]} (messages as nested dicts)."""
    tokens = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("str", m.group(1)))
        elif m.group(2):
            tokens.append((m.group(2), m.group(2)))
        elif m.group(3):
            tokens.append(("word", m.group(3)))

    def message(i):
        out = {}
        while i < len(tokens) and tokens[i][0] != "}":
            key = tokens[i][1]
            i += 1
            if tokens[i][0] == ":":
                i += 1
            if tokens[i][0] == "{":
                value, i = message(i + 1)
                i += 1
            else:
                value = tokens[i][1]
                i += 1
            out.setdefault(key, []).append(value)
        return out, i

    return message(0)[0]


def layers_of(project_root, kind):
    text = (project_root / "prototxt" / "micro_attention" / (kind + ".prototxt")).read_text()
    return parse_prototxt(text)["layer"]


def one(layer, *path):
    value = layer
    for key in path:
        value = value[key][0]
    return value


@pytest.fixture(scope="module", params=["train_val", "deploy"])
def net(request, project_root):
    layers = layers_of(project_root, request.param)
    return [(one(l, "name"), l) for l in layers]


def by_name(net, name):
    found = [l for n, l in net if n == name]
    assert len(found) == 1, name
    return found[0]


def position(net, name):
    return [n for n, _ in net].index(name)


def test_concat_inputs_and_order_as_documented(net):
    for c in STAGES:
        concat = by_name(net, "mask_Concat_%d" % c)
        shortcut = "conv1_pool" if c == 64 else "layer_%d_1_conv_expand" % c
        assert one(concat, "type") == "Concat"
        assert concat["bottom"] == [shortcut, "layer_%d_1_conv1" % c, "layer_%d_1_conv2" % c]
        assert one(concat, "concat_param", "axis") == "1"
        # conv1 is seen after its in-place BN/Scale/ReLU: all three come before the Concat.
        for suffix, type_ in (("bn2", "BatchNorm"), ("scale2", "Scale"), ("relu2", "ReLU")):
            name = "layer_%d_1_%s" % (c, suffix)
            layer = by_name(net, name)
            assert one(layer, "type") == type_
            assert layer["bottom"] == layer["top"] == ["layer_%d_1_conv1" % c]
            assert position(net, name) < position(net, "mask_Concat_%d" % c)
        # conv2 is seen raw: nothing writes it in place.
        assert not [n for n, l in net if l.get("top") == ["layer_%d_1_conv2" % c]
                    and n != "layer_%d_1_conv2" % c]


def test_embedding_and_fixed_average_as_documented(net):
    for c in STAGES:
        m = "mask_Concat_%d" % c
        emb = by_name(net, m + "_1x1")
        assert (one(emb, "type"), emb["bottom"]) == ("Convolution", [m])
        cp = one(emb, "convolution_param")
        assert (one(cp, "num_output"), one(cp, "bias_term"), one(cp, "kernel_size")) == \
            (str(c), "false", "1")
        assert one(cp, "weight_filler", "type") == "msra"
        assert (one(emb, "param", "lr_mult"), one(emb, "param", "decay_mult")) == ("1", "1")

        avg = by_name(net, m + "_1x1_one")
        assert avg["bottom"] == [m + "_1x1"]
        cp = one(avg, "convolution_param")
        assert (one(cp, "num_output"), one(cp, "bias_term"), one(cp, "kernel_size")) == \
            ("1", "false", "1")
        assert one(cp, "weight_filler", "type") == "constant"
        assert float(one(cp, "weight_filler", "value")) == 1.0 / c
        assert avg["param"] == [{"lr_mult": ["0"], "decay_mult": ["0"]}]


def test_sigmoid_tile_and_eltwise_as_documented(net):
    for c in STAGES:
        m = "mask_Concat_%d" % c
        t = "layer_%d_1_sum" % c
        sig = by_name(net, m + "_1x1_one_sig")
        assert (one(sig, "type"), sig["bottom"]) == ("Sigmoid", [m + "_1x1_one"])
        tile = by_name(net, m + "_1x1_more")
        assert (one(tile, "type"), tile["bottom"]) == ("Tile", [m + "_1x1_one_sig"])
        assert (one(tile, "tile_param", "axis"), one(tile, "tile_param", "tiles")) == ("1", str(c))
        prod = by_name(net, "layer_%d_1_sum_multip" % c)
        assert one(prod, "eltwise_param", "operation") == "PROD"
        assert prod["bottom"] == [t, m + "_1x1_more"]
        add = by_name(net, "layer_%d_1_sum2" % c)
        assert one(add, "eltwise_param", "operation") == "SUM"
        assert add["bottom"] == [t, "layer_%d_1_sum_multip" % c]
        assert one(by_name(net, t), "eltwise_param", "operation") == "SUM"
    # Each stage reads the previous unit's output; the head reads the last one.
    for prev, c in zip(STAGES, STAGES[1:]):
        assert by_name(net, "layer_%d_1_bn1" % c)["bottom"] == ["layer_%d_1_sum2" % prev]
    assert by_name(net, "last_bn")["bottom"] == ["layer_512_1_sum2"]


def test_data_layers_and_classifier_as_documented(project_root):
    train_val = layers_of(project_root, "train_val")
    data = {one(l, "include", "phase"): l for l in train_val if one(l, "type") == "Data"}
    assert set(data) == {"TRAIN", "TEST"}
    assert one(data["TRAIN"], "transform_param", "crop_size") == "224"
    assert one(data["TRAIN"], "transform_param", "mirror") == "false"
    assert one(data["TRAIN"], "data_param", "batch_size") == "10"
    assert "crop_size" not in one(data["TEST"], "transform_param")
    assert one(data["TEST"], "data_param", "batch_size") == "1"
    assert not [l for l in train_val if one(l, "type") == "ImageData"]

    deploy = layers_of(project_root, "deploy")
    inp = [l for l in deploy if one(l, "type") == "Input"]
    assert len(inp) == 1
    assert one(inp[0], "input_param", "shape")["dim"] == ["1", "1", "224", "224"]
    assert one(data["TEST"], "transform_param", "mirror") == "false"
    for layers in (train_val, deploy):
        cls = [l for l in layers if one(l, "name") == "classifier-Expressions"]
        assert len(cls) == 1
        assert one(cls[0], "type") == "InnerProduct"
        assert one(cls[0], "inner_product_param", "num_output") == "5"
        assert one(cls[0], "inner_product_param", "weight_filler", "type") == "msra"
        assert one(cls[0], "inner_product_param", "bias_filler", "value") == "0"
        assert [one(p, "lr_mult") for p in cls[0]["param"]] == ["1", "2"]
        names = [one(l, "name") for l in layers]
        for name in ("data_bn", "data_scale", "conv1", "conv1_pool", "layer_64_1_conv1",
                     "layer_128_1_conv_expand", "layer_512_1_conv2", "last_bn", "last_scale",
                     "last_relu", "global_pool"):
            assert name in names
        bn = [l for l in layers if one(l, "type") == "BatchNorm"]
        assert bn and all("batch_norm_param" not in l for l in bn)  # phase-default global stats
        assert all(l["param"] == [{"lr_mult": ["0"], "decay_mult": ["0"]}] * 3 for l in bn)
    heads = {one(l, "name"): (one(l, "type"), one(l, "bottom")) for l in train_val + deploy
             if one(l, "type") in ("SoftmaxWithLoss", "Accuracy", "Softmax")}
    assert heads == {"loss": ("SoftmaxWithLoss", "classifier-Expressions"),
                     "accuracy": ("Accuracy", "classifier-Expressions"),
                     "prob": ("Softmax", "classifier-Expressions")}


def test_reader_sees_a_swapped_concat(project_root):
    text = (project_root / "prototxt" / "micro_attention" / "deploy.prototxt").read_text()
    swapped = text.replace('  bottom: "layer_128_1_conv1"\n  bottom: "layer_128_1_conv2"\n  top: "mask_Concat_128"',
                           '  bottom: "layer_128_1_conv2"\n  bottom: "layer_128_1_conv1"\n  top: "mask_Concat_128"')
    assert swapped != text
    concat = [l for l in parse_prototxt(swapped)["layer"] if one(l, "name") == "mask_Concat_128"]
    assert concat[0]["bottom"] == ["layer_128_1_conv_expand", "layer_128_1_conv2",
                                   "layer_128_1_conv1"]
