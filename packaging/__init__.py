"""Files for packagers and for ``activeresponse install`` (shipped as package data)."""
