"""The faithful baselines the default protocols are measured against.

``securenn``: SecureNN's comparison family (PrivateCompare, ShareConvert, ComputeMSB,
SelectShare, DReLU, ReLU) as in the paper. ``spp_paper``: the S++ paper's Algorithms 1-7 as
described. They are the ``"securenn"`` and ``"spp"`` variants of :mod:`..variants`; the default
protocols' functions dispatch to them by variant. ``securenn`` builds on the shared-tensor
layer only; ``spp_paper`` also on the default comparison and division protocols (SecureNN's
DReLU and long division through them), never on the functions that dispatch to it.
"""
