"""The attention stage's pictures: one sample's faces and maps per net (the
visualize command, predict's overlay) and the held-out grid of Figure 4.
"""
import io


def render(sample, face, rows, points, mask, label, aus):
    """PNG bytes: one row per net (face with AU regions, then its maps)."""
    import matplotlib  # lazy: slow to import, and only the pictures need it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it
    columns = 1 + max(len(r["maps"]) for r in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.8 * len(rows)),
                             squeeze=False)
    size = face.shape[0]
    for r, row in enumerate(rows):
        ax = axes[r][0]
        ax.imshow(face, cmap="gray", vmin=0, vmax=255)
        if mask is not None:
            ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        if points is not None:
            ax.plot(points[:, 0], points[:, 1], ".", color="cyan", markersize=1.5)
        title = "%s\n%s" % (row["net"], row["pred"])
        if label:
            title = "%s\nclass %s%s" % (title, label,
                                        " (AU%s)" % "+".join(map(str, aus)) if aus else "")
        ax.set_title(title, fontsize=7)
        for c in range(columns - 1):
            ax = axes[r][c + 1]
            if c >= len(row["maps"]):
                ax.axis("off")
                continue
            key, small, big, score, area = row["maps"][c]
            ax.imshow(face, cmap="gray", vmin=0, vmax=255)
            im = ax.imshow(big, cmap="jet", alpha=0.5, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
            title = "%s (%dx%d)" % (key, small.shape[1], small.shape[0])
            if score is not None:
                title += "\nscore %.3f, area %.3f" % (score, area)
            ax.set_title(title, fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return png(fig, sample, 8, 100)


def heldout_figure(panels, title):
    """PNG bytes of a Figure-4-style grid: one row per face (the face with its
    AU regions, then each map over it, its lift in the panel title). A panel
    is a dict: title, face, points, mask, maps [(title, upsampled map)]."""
    import matplotlib  # lazy: slow to import, and only the pictures need it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it
    columns = 1 + max(len(p["maps"]) for p in panels)
    fig, axes = plt.subplots(len(panels), columns, figsize=(1.9 * columns, 2.6 * len(panels)),
                             squeeze=False)
    for row, panel in zip(axes, panels):
        face = panel["face"]
        size = face.shape[0]
        row[0].imshow(face, cmap="gray", vmin=0, vmax=255)
        if panel.get("mask") is not None:
            row[0].contour(panel["mask"].astype(float), levels=[0.5], colors="yellow",
                           linewidths=0.8)
        row[0].set_title(panel["title"], fontsize=6)
        for ax, item in zip(row[1:], panel["maps"]):
            ax.imshow(face, cmap="gray", vmin=0, vmax=255)
            ax.imshow(item[1], cmap="jet", alpha=0.5, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            if panel.get("mask") is not None:
                ax.contour(panel["mask"].astype(float), levels=[0.5], colors="white",
                           linewidths=0.5)
            ax.set_title(item[0], fontsize=6)
        for ax in row[1 + len(panel["maps"]):]:
            ax.axis("off")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    return png(fig, title, 7, 90)


def png(fig, title, fontsize, dpi):
    """The figure's PNG bytes (no software stamp: same input, same bytes),
    then the figure is closed."""
    import matplotlib.pyplot as plt  # lazy: slow to import, and only the pictures need it
    fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
