"""The conversation engine: pure values in, values out (no Flask, SQL, HTTP, clock or environment)."""
