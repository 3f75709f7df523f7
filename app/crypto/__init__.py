"""Everything that touches key material or cryptographic primitives lives in this package."""
