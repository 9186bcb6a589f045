"""Row level security knowledge: finding RLS holes in a database's catalog."""
