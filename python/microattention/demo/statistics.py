"""The demo's statistics: chance level, the binomial tail (how likely
guessing does as well) and the per-person table of a predictions file."""
import collections
import math

from microattention import paper
from microattention.demo.tables import read_csv

CHANCE = 1.0 / len(paper.CLASSES)    # guessing among the five classes


def binomial_tail(right, n, p):
    """P(X >= right) for X ~ Binomial(n, p): how likely guessing does as well."""
    return sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(right, n + 1))


def per_person(predictions_csv, names):
    """One row per held-out person of a predictions file: (person, subject,
    right, faces, most predicted class, its share of the person's faces,
    classes right). `names` maps subject ids to people. A net that answers
    one class for most of a person's faces whatever the expression has
    learned that person's look, not the expressions: the share shows it."""
    by_subject = collections.OrderedDict()
    for row in read_csv(predictions_csv)[0]:
        subject = row["sample_id"].split("/")[1]
        by_subject.setdefault(subject, []).append(row)
    rows = []
    for subject, faces in sorted(by_subject.items()):
        predicted = collections.Counter(int(r["predicted_label"]) for r in faces)
        top, count = predicted.most_common(1)[0]
        right = [r for r in faces if r["true_label"] == r["predicted_label"]]
        rows.append((names.get(subject, subject), subject, len(right), len(faces),
                     paper.CLASSES[top], count / len(faces),
                     sorted({paper.CLASSES[int(r["true_label"])] for r in right},
                            key=paper.CLASSES.index)))
    return rows

