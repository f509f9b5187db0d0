"""Facial action units on the 68 iBUG points: which points each AU moves and
how far (AU_TABLE), the AU combinations shown for each objective class
(CLASS_AUS), the mirror renumbering of the 68 points and the eye helpers.
A neutral module: the demo-data generator moves these points, `visualize`
scores attention maps on the regions around them."""
import numpy as np

# iBUG 68-point index (0-based) of the mirror image of each point: point i of
# a flipped face is point MIRROR[i] of the original, flipped.
MIRROR = (list(range(16, -1, -1))                       # jaw 0..16
          + list(range(26, 16, -1))                     # brows 17..26
          + [27, 28, 29, 30]                            # nose bridge
          + [35, 34, 33, 32, 31]                        # nostrils
          + [45, 44, 43, 42, 47, 46]                    # image-left eye 36..41
          + [39, 38, 37, 36, 41, 40]                    # image-right eye 42..47
          + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lip 48..59
          + [64, 63, 62, 61, 60, 67, 66, 65])           # inner lip 60..67

# Points of the image-left half (the rest: their MIRROR twins and the midline).
LEFT_SIDE = frozenset(list(range(0, 8)) + list(range(17, 22)) + [31, 32]
                      + list(range(36, 42)) + [48, 49, 50, 58, 59, 60, 61, 67])

# Which iBUG points (0-based) each action unit moves, and by how much, for a
# strong (macro) expression: (dx, dy) in inter-ocular distances (distance of
# the eye centres), x to the image right, y down, face upright. Listed for
# the image-left half (the subject's right side) and the midline; the other
# half follows through MIRROR with dx negated. For image-left points dx < 0
# is outward and dx > 0 toward the midline. Effects of several AUs on one
# point add up.
AU_LEFT = {
    1: {21: (0, -.2), 20: (0, -.14), 19: (0, -.06)},               # inner brow raiser
    2: {17: (0, -.16), 18: (0, -.18), 19: (0, -.14), 20: (0, -.06)},  # outer brow raiser
    4: {17: (0, .04), 18: (.02, .08), 19: (.04, .12), 20: (.06, .14),
        21: (.08, .14)},                                            # brow lowerer
    5: {37: (0, -.07), 38: (0, -.07)},                            # upper lid raiser
    6: {40: (0, -.06), 41: (0, -.06), 36: (0, -.02)},               # cheek raiser
    7: {40: (0, -.04), 41: (0, -.04), 37: (0, .03), 38: (0, .03)},  # lid tightener
    9: {29: (0, -.04), 30: (0, -.07), 31: (0, -.08), 32: (0, -.09), 33: (0, -.09),
        49: (0, -.04), 50: (0, -.06), 51: (0, -.06), 61: (0, -.04),
        62: (0, -.04)},                                             # nose wrinkler
    10: {31: (0, -.03), 32: (0, -.02), 33: (0, -.02), 48: (0, -.04), 49: (0, -.1),
         50: (0, -.14), 51: (0, -.14), 61: (0, -.1), 62: (0, -.1)},  # upper lip raiser
    12: {48: (-.16, -.14), 60: (-.12, -.1), 49: (-.06, -.07), 59: (-.06, -.06),
         61: (-.02, -.02), 67: (-.02, -.02)},                       # lip corner puller
    15: {48: (0, .14), 60: (0, .1), 59: (0, .06), 49: (0, .04)},    # lip corner depressor
    17: {6: (0, -.03), 7: (0, -.06), 8: (0, -.08), 57: (0, -.06), 58: (0, -.05),
         66: (0, -.04), 67: (0, -.03)},                            # chin raiser
    23: {48: (.06, 0), 60: (.04, 0), 49: (.02, .02), 59: (.02, -.02)},  # lip tightener
    25: {57: (0, .1), 58: (0, .09), 59: (0, .04), 66: (0, .12), 67: (0, .1),
         61: (0, -.02), 62: (0, -.03)},                            # lips part
    26: {4: (0, .06), 5: (0, .12), 6: (0, .2), 7: (0, .26), 8: (0, .28),
         48: (0, .06), 60: (0, .06), 57: (0, .24), 58: (0, .22), 59: (0, .12),
         66: (0, .24), 67: (0, .22)},                               # jaw drop
}


def _both_sides(left):
    table = {}
    for au, moves in left.items():
        full = {}
        for point, (dx, dy) in moves.items():
            twin = MIRROR[point]
            if twin == point and dx:
                raise AssertionError("AU%d: midline point %d cannot move sideways" % (au, point))
            full[point] = (dx, dy)
            full[twin] = (-dx, dy)
        table[au] = full
    return table


AU_TABLE = _both_sides(AU_LEFT)

# AU combinations rendered per objective class, all rows of the objective-class
# table (so classes derived from the AU strings agree with the shipped ones);
# clip k of a class uses combination k modulo the list (modulo --au-variants,
# when that is given: 1 = every clip of a class shows its first combination).
CLASS_AUS = {
    1: ["6+12", "6+7+12", "12"],
    2: ["1+2", "1+2+25", "1+2"],
    3: ["4+7", "4+5+7", "4+5"],
    4: ["9", "4+9", "10"],
    5: ["15", "15+17", "1+4"],
}


def eye_centres(points):
    """Centres of the image-left (36-41) and image-right (42-47) eyes, (x, y)."""
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0)


def interocular(points):
    """Distance of the eye centres, in the points' units."""
    left, right = eye_centres(points)
    return float(np.hypot(*(right - left)))
