"""File formats of the core, one module each: `model` (HDF5 model files: parameters,
checksums, atomic writes), `snapshot` (model plus solver state), `statistics` (the coffee
lounge's statistics file). What the files mean for a resume is `mocha.core.resume`."""
