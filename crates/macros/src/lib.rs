//! weft-macros: procedural macros for Weft.
