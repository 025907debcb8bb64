//! weft-placement: the placement service (consistent-hash actor placement).
