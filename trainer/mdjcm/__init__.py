"""MDJCM: multi-order digital joint coding-modulation (seed mdjcm-multi-order-digital-jcm)."""
