// Exports used only by unit tests of self-contained core modules (codecs, checksums).
