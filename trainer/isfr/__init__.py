"""ISFR + OPHD (importance-ordered semantic feature restructuring with unequal error
protection, the ISFR seed paper) as a scheme."""
