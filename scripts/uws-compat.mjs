// placeholder, replaced by the compat step
