"""AIO-Blur / AIO-Blur-OOD data (paper Sec. 4, Table 4, Fig. 10).

``layouts`` reads the published dataset layouts, ``build`` balances and writes
manifests, ``balance`` holds the Table 4 / Fig. 10 rules, ``synthetic`` writes
the embedded default, ``datasets`` feeds training and evaluation.
"""
