"""Seeing synthesis and detection: an interactive viewer and matplotlib figures.

Nothing heavy is imported here; each module imports PyVista or matplotlib itself, so
``import viz`` and ``pnas --help`` stay fast.

======================  ==========================================================================
:mod:`viz.viewer`       :class:`ViewerState` (params, the current sample, plain-Python callbacks)
                        and :class:`Viewer` (the PyVista window: sliders, keys, picking)
:mod:`viz.scene`        the PyVista scene of a cloud: coloured points, normal glyphs, camera
:mod:`viz.offscreen`    EGL set-up for headless rendering, off-screen check, PNG writing
:mod:`viz.colors`       label, displacement and score colours (uint8 RGB)
:mod:`viz.views`        viewpoints (``"defect"``, ``"AZ,EL"``) and orthographic point drawing
:mod:`viz.sweep`        the same part for a grid of two synthesis parameters
:mod:`viz.field`        the Perlin field on the 2D parameterization, points and mask overlaid
:mod:`viz.heatmap`      before/after and anomaly-score heatmaps on the part
:mod:`viz.curves`       ROC and PRO curves and per-category bars from ``pnas eval`` results
:mod:`viz.report`       the HTML report of one or more ``pnas eval`` results (tables, curves,
                        heatmaps of the highest and lowest scored clouds)
:mod:`viz.figure_output` Agg figures (no display) and atomic, no-clobber image files
======================  ==========================================================================
"""
