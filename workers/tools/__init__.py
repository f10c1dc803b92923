"""What people run: the command line (``cli``, ``commands``), the end-to-end demo (``demo``),
benchmarks (``bench``), offline evaluation on labelled files (``evaluation``), the knowledge-base
build (``kb_build``) and the settings documentation (``settings_doc``).

The top layer: may import every other layer; nothing imports it.
"""
