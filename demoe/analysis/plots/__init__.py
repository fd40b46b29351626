"""Data → DataFrame and DataFrame → Figure functions behind every analysis figure.

One module per group of figures of DeMoE (arXiv 2508.06228):

* :mod:`.weights`: weight similarity, Sec. 3.1 / App. A, D (Figs. 2, 7, 8, 9, 11), drawn
  from the scores of :mod:`demoe.analysis.similarity_study`;
* :mod:`.embeddings`: CLIP and encoder-feature t-SNE maps (Figs. 4, 13);
* :mod:`.router`: router probabilities and confusion matrix (Fig. 12);
* :mod:`.qualitative`: restored-crop grids (Figs. 5, 14);
* :mod:`.cost`: parameters / MACs / runtime (Fig. 6).

The thin scripts ``analysis/figNN_<name>.py`` wire them to DAG artifacts; every figure
is drawn with :func:`demoe.analysis.style.apply_style` and written with
:func:`demoe.analysis.style.save_figure`.
"""
