"""The demo data generator (`demo-data`): expression clips of real people's
faces in the CASME II and CK+ layouts. Modules: people (who, their
photographs and views), clips (one clip's frames), generator (every clip,
the trees and the manifest), layouts (the datasets' files), strip (the
--strip picture), command (the CLI); geometry, warp and furrows below
clips."""
