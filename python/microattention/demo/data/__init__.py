"""The demo data generator (`demo-data`): expression clips of real people's
faces in the CASME II and CK+ layouts. Modules: people (who, their
photographs and views), clips (one clip's frames), generator (every clip,
the trees and the manifest), layouts (the datasets' files), strip (the
--strip picture), command (the CLI); geometry, warp and furrows below
clips. `demo-data --rehearsal`: rehearsal (a small copy of all seven
databases in their released layouts, from the same people and clips),
micro_sets (SAMM, SMIC-E) and macro_sets (Oulu-CASIA, JAFFE, MUG) beside
layouts (CASME II, CK+)."""
