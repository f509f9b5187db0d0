"""The objective classes of Davison et al. (2018), used by MEGC 2018 and by the
paper (4.1) to regroup CASME II and SAMM into five emotions.

The shipped class of each clip (CASME2-ObjectiveClasses.xlsx, SAMM's
'Objective Classes' column) is preferred. Deriving the class from the AU
string through TABLE is a fallback, and the index says so (class_source).

AU string parsing (fallback only):
- terms are joined by '+'; a term may be 'X or Y' (SAMM: 'A12 or A14');
- a term is an AU number with an optional prefix 'AU', 'R', 'L', 'A' or 'B'
  (side / asymmetry marks) and an optional intensity letter A-E after it;
- text in parentheses is a coder's remark and is ignored ('14(unclear)',
  and a whole term such as '(15)' in '4+(15)');
- nothing else is accepted: '6 12' (a missing '+'), '12+x', '4++7', '12+',
  'AU612' (AU numbers stop at 99) raise ValueError naming the term;
- codes 41 and above (eyelid, eye and head positions) are not part of any
  combination and are ignored;
- the AU set must equal one of the combinations exactly, otherwise class VII;
- with 'or' terms every alternative set is classified: when they all agree
  that class is used, otherwise the clip is class VII (others) and a warning
  is printed, since the coder did not commit to one reading.
"""
import itertools
import re

from microattention import paper

# class number -> name used by the paper (5 kept classes, 2 dropped).
NAMES = dict(enumerate(paper.CLASSES + ("fear", "others"), start=1))
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII"}
KEPT = (1, 2, 3, 4, 5)

# Table 9 of Merghani, Davison, Yap (arXiv 1805.02397).
TABLE = {
    1: ["6", "12", "6+12", "6+7+12", "7+12"],
    2: ["1+2", "5", "25", "1+2+25", "25+26", "5+24"],
    3: ["23", "4", "4+7", "4+5", "4+5+7", "17+24", "4+6+7", "4+38"],
    4: ["10", "9", "4+9", "4+40", "4+5+40", "4+7+9", "4+9+17", "4+7+10",
        "4+5+7+9", "7+10"],
    5: ["1", "15", "1+4", "6+15", "15+17"],
    6: ["1+2+4", "20"],
}
COMBINATIONS = {}
for _number, _combos in TABLE.items():
    for _combo in _combos:
        COMBINATIONS[frozenset(int(a) for a in _combo.split("+"))] = _number

# AUs from 41 up code eyelids, gaze and head movement.
FIRST_IGNORED_AU = 41

# An AU code: optional 'AU' (a space may follow) or side/asymmetry mark R, L,
# A, B; the AU number; an optional intensity letter A-E. No other text.
_TERM = re.compile(r"^(?:AU\s*|[RLAB])?(\d+)[A-E]?$")
# FACS codes stop below 100 (70-99: visibility and gross behaviour codes).
LAST_AU = 99
_ROMAN_VALUES = {v: k for k, v in ROMAN.items()}


def parse_class(value):
    """An objective class from a sheet cell: 1..7, '3', '3.0', 'III',
    'Class III'. Raises ValueError otherwise."""
    text = str(value if value is not None else "").strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    text = re.sub(r"(?i)^class\s*", "", text).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):
        number = int(float(text))
    else:
        number = _ROMAN_VALUES.get(text.upper())
    if number not in NAMES:
        raise ValueError("not an objective class (1-7 or I-VII)")
    return number


def parse_aus(text):
    """The alternative AU sets an AU string can mean (usually one).

    Strict: every '+'-separated term must be one AU code (or 'X or Y');
    anything else, such as '6 12' (a missing '+', which a lenient reader
    would take for AU 612), raises ValueError naming the term."""
    raw = str(text if text is not None else "")
    terms = []
    depth, current = 0, ""
    for char in raw + "+":   # split on '+' outside parentheses
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced parentheses")
        if char == "+" and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError("unbalanced parentheses")
    if not raw.strip():
        raise ValueError("no action units")
    if any(not t.strip() for t in terms):
        raise ValueError("empty term (two '+' in a row, or a '+' at either end)")
    # A remark in parentheses is ignored, also when it is a whole term: '4+(15)'.
    terms = [re.sub(r"\([^()]*\)", "", t) for t in terms]
    terms = [t for t in terms if t.strip()]
    if not terms:
        raise ValueError("no action units outside parentheses")
    choices = []
    for term in terms:
        options = []
        for alternative in re.split(r"(?i)\s+or\s+|/", term.strip()):
            code = alternative.strip()
            match = _TERM.match(code.upper())
            if not match:
                hint = " (AUs are joined by '+')" if re.fullmatch(r"[\w\s]+\d", code) \
                    and re.search(r"\d\s+\S", code) else ""
                raise ValueError("%r is not an AU code%s" % (code, hint))
            number = int(match.group(1))
            if not 1 <= number <= LAST_AU:
                raise ValueError("%r: AU numbers go from 1 to %d" % (code, LAST_AU))
            options.append(number)
        choices.append(options)
    sets = []
    for combo in itertools.product(*choices):
        aus = frozenset(a for a in combo if a < FIRST_IGNORED_AU)
        if aus not in sets:
            sets.append(aus)
    return sets


def classify(text):
    """(class number, warning or None) for an AU string; ValueError when it
    cannot be parsed."""
    sets = parse_aus(text)
    classes = sorted({COMBINATIONS.get(aus, 7) for aus in sets})
    if len(classes) == 1:
        return classes[0], None
    readings = " / ".join("+".join(str(a) for a in sorted(s)) or "-" for s in sets)
    return 7, ("alternatives %s map to classes %s; treated as VII (others)"
               % (readings, ", ".join(ROMAN[c] for c in classes)))
