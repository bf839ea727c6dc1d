"""Dataset: class balance, sample faces, mean faces, intensities, data quality, a 2-D embedding and, with
FER+ votes, the label noise (FER2013 against the FER+ majority).

Only the open tab runs (lazy tabs), and every expensive result is cached per dataset and settings,
so the page stays interactive on all of FER2013.
"""
import streamlit as st

from fer_core.data import mean_faces, quality_report
from fer_core.data.quality import BLANK_STD, SHARPNESS_SHIFT_WARNING
from fer_core.inference.embedding import (DEFAULT_SAMPLE, TSNE_MAX_POINTS, embed_images, embed_run_features, embedding_runs,
                                sample_dataset, selected_indices)
from fer_core.common.emotions import display
from fer_core.figures import dataset as figs
from fer_core.runs.store import CHECKPOINT, RunError
from fer_core.data.sharpness import sharpness_of
from fer_core.data.agreement import label_agreement
from fer_core.figures import labels as label_figs
from app_pages.common import active_choice, active_dataset, cached_dataset, chart, dataset_label, gallery


ALL = "all"
PIXELS = "pixels"
TABS = ["Balance", "Samples", "Mean faces", "Intensities", "Quality", "Embedding", "Label noise"]
MAX_SELECTED_FACES = 40


# Caches: `key` (source, class set) names the dataset; the dataset itself is passed unhashed (`_ds`).

@st.cache_data(show_spinner="Checking data quality (duplicates, blank images, sharpness)…", max_entries=4)
def cached_quality(key, _ds):
    return quality_report(_ds)


@st.cache_data(show_spinner=False, max_entries=4)
def cached_sharpness(key, _ds):
    return sharpness_of(_ds.images)


@st.cache_data(show_spinner="Averaging faces…", max_entries=16)
def cached_mean_faces(key, _ds, split):
    return mean_faces(_ds, None if split == ALL else split)


@st.cache_data(show_spinner="Counting intensities…", max_entries=16)
def cached_histogram(key, _ds, by, measure, split):
    return figs.intensity_histogram(_ds, by=by, measure=measure, split=None if split == ALL else split)


@st.cache_data(show_spinner="Embedding the sample…", max_entries=16)
def cached_embedding(key, _ds, source, checkpoint_mtime, method, split, n, seed):
    """(dataset indices, (n, 2) coordinates) of a stratified sample; `checkpoint_mtime` invalidates
    the cache when a running run writes a better checkpoint."""
    indices = sample_dataset(_ds, n=n, seed=seed, split=None if split == ALL else split)
    images = _ds.images[indices]
    if source == PIXELS:
        return indices, embed_images(images, method=method, seed=seed)
    return indices, embed_run_features(source, images, classes=_ds.classes, method=method, seed=seed)


@st.cache_data(show_spinner="Comparing the labels with the votes…", max_entries=4)
def cached_agreement(key, _ds, split):
    return label_agreement(_ds, None if split == ALL else split)


def reroll_samples():
    st.session_state.dataset_samples_seed += 1


def show_faces(ds, indices, scale=2, with_split=False):
    """A gallery of dataset faces: the class under each (with its split: "test · Happy"), "split · class · id"
    on hover."""
    tiles, captions = figs.face_tiles(ds, indices, scale=scale)
    gallery(tiles, [" · ".join(c.split(" · ")[:2]) if with_split else c.split(" · ")[1] for c in captions],
            tooltips=captions)


def show_duplicate_groups(ds, groups) -> None:
    for g in groups:
        shown = g.members[:8]
        more = f" (first {len(shown)} shown)" if len(shown) < len(g.members) else ""
        st.caption(figs.where_copies_are(g) + more)
        show_faces(ds, shown, with_split=True)


st.title("🗂️ Dataset")
ds, error = active_dataset()
if error:
    st.error(f"{error}\n\nChoose another dataset on the Home page.")
    st.stop()
if not len(ds):
    st.warning("The active dataset has no images. Choose another dataset on the Home page.")
    st.stop()
choice = active_choice()
KEY = (choice.path.strip() or "synthetic", choice.class_set, ds.source, len(ds))
st.subheader(dataset_label(ds))
st.caption(f"{len(ds):,} faces · classes: {', '.join(display(c) for c in ds.classes)} · "
           f"splits: {', '.join(ds.split_names())}")
split_options = [ALL, *ds.split_names()]

tabs = st.tabs(TABS, key="dataset_tab", on_change="rerun")
balance, samples, means, intensities, quality, embedding, noise = tabs

if balance.open:
    with balance:
        ratios = figs.imbalance_ratios(ds)
        cols = st.columns(len(ratios) + 1)
        cols[0].metric("images", f"{len(ds):,}")
        for col, (split, ratio) in zip(cols[1:], ratios.items()):
            col.metric(f"{split}: imbalance (max/min)", f"{ratio:.1f}×",
                       help="images in the largest class / images in the smallest non-empty class")
        percent = st.toggle("Each split as percentages", key="dataset_balance_percent",
                            help="Bar heights as each split's share per class: splits of different sizes side by side")
        chart(st, figs.class_distribution(ds, percent=percent), width="stretch", key="dataset_balance_chart")

if samples.open:
    with samples:
        st.session_state.setdefault("dataset_samples_seed", 0)
        c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
        split = c1.selectbox("Split", split_options, key="dataset_samples_split")
        per_class = c2.slider("Faces per class", 4, 16, 8, key="dataset_samples_per_class")
        seed = c3.number_input("Seed", min_value=0, step=1, key="dataset_samples_seed")
        c4.button("🎲 Re-roll", key="dataset_samples_reroll", on_click=reroll_samples)
        grid, rows = figs.sample_mosaic(ds, per_class=per_class, seed=int(seed),
                                        split=None if split == ALL else split)
        if rows:
            chart(st, figs.mosaic_figure(grid, rows), width="stretch", key="dataset_samples_chart")
            st.caption(f"Random faces from {split} (seed {seed}); a class with fewer faces shows them all.")
        else:
            st.info(f"The {split} split has no images.")

if means.open:
    with means:
        c1, c2 = st.columns(2, vertical_alignment="bottom")
        split = c1.selectbox("Split", split_options, key="dataset_mean_split")
        difference = c2.toggle("Difference from the average face", key="dataset_mean_difference",
                               help="each class's mean face minus the average of all class means: "
                                    "red is brighter than average, blue darker")
        faces = cached_mean_faces(KEY, ds, split)
        chart(st, figs.mean_faces_figure(faces, difference=difference), width="stretch",
              key="dataset_mean_chart")
        missing = [display(c) for c in ds.classes if c not in faces]
        if missing:
            st.caption(f"No images of {', '.join(missing)} in {split}.")

if intensities.open:
    with intensities:
        c1, c2, c3 = st.columns(3)
        by = c1.radio("One line per", figs.HISTOGRAM_BY, horizontal=True, key="dataset_hist_by")
        measure = c2.radio("Measure", figs.HISTOGRAM_MEASURES, horizontal=True, key="dataset_hist_measure",
                           format_func={"pixels": "pixel values", "image_mean": "image brightness"}.get)
        split = c3.selectbox("Split", split_options, key="dataset_hist_split", disabled=by == "split")
        chart(st, cached_histogram(KEY, ds, by, measure, split), width="stretch", key="dataset_hist_chart")

if quality.open:
    with quality:
        report = cached_quality(KEY, ds)
        c = st.columns(4)
        c[0].metric("duplicate groups", f"{report.duplicate_groups:,}",
                    help=f"groups of pixel-identical images ({report.duplicate_images:,} images in all)")
        c[1].metric("groups across splits", f"{report.cross_split_duplicate_groups:,}",
                    help="identical images in more than one split: leakage")
        c[2].metric("conflicting labels", f"{report.conflicting_label_groups:,}",
                    help="identical images that carry different labels")
        c[3].metric("near-blank images", f"{len(report.near_blank):,}",
                    help=f"pixel standard deviation under {BLANK_STD:g}")
        if report.cross_split_duplicate_groups:
            st.warning(f"{report.cross_split_duplicate_groups} group(s) of identical images appear in more than one "
                       "split: evaluating on an image the model trained on inflates scores. Training drops the "
                       "leaked train images by default (the `drop_leaked` option).")

        st.markdown("#### Duplicates")
        if report.groups:
            c1, c2 = st.columns(2)
            kind = c1.selectbox("Show", figs.DUPLICATE_KINDS, key="dataset_quality_dup_kind",
                                format_func={"cross_split": "across splits (leakage)",
                                             "conflicting": "conflicting labels", "all": "all duplicate groups"}.get)
            limit = c2.slider("Groups", 1, 12, 4, key="dataset_quality_dup_groups")
            groups = figs.duplicate_examples(report, kind, limit)
            blank_groups = figs.duplicate_examples(report, kind, limit, near_blank=True)
            if not groups and not blank_groups:
                st.success("None of this kind.")
            show_duplicate_groups(ds, groups)
            if blank_groups:
                with st.expander(f"Groups of near-blank images ({len(blank_groups)} shown): identical because "
                                 "they hold no face (all black or all grey), not copies of one photo"):
                    show_duplicate_groups(ds, blank_groups)
        else:
            st.success("No pixel-identical images.")

        st.markdown("#### Near-blank images")
        if report.near_blank:
            st.caption(f"{len(report.near_blank)} image(s) with almost no contrast" +
                       ("; the first 24 shown" if len(report.near_blank) > 24 else ""))
            show_faces(ds, report.near_blank[:24])
        else:
            st.success("No near-blank images.")

        st.markdown("#### Sharpness per split")
        cols = st.columns(max(1, len(report.sharpness)))
        for col, (split, value) in zip(cols, report.sharpness.items()):
            col.metric(f"{split}: median sharpness", f"{value:,.1f}", help="variance of the Laplacian (0-255 scale)")
        if report.sharpness_shift > SHARPNESS_SHIFT_WARNING:
            st.warning(f"The splits differ {report.sharpness_shift:.0f}× in median sharpness: a model trained on "
                       "one sees different-looking images in the other: check how each split was made.")
        chart(st, figs.sharpness_histogram(ds, cached_sharpness(KEY, ds)), width="stretch",
              key="dataset_sharpness_chart")

if embedding.open:
    with embedding:
        candidates = {r.run_dir.name: r for r in embedding_runs(ds.classes)}

        def source_label(option):
            if option == PIXELS:
                return "pixels"
            record = candidates[option]
            accuracy = record.test_accuracy_text()
            data = "SYNTHETIC faces" if record.trained_on_synthetic else record.provenance()["dataset"]
            who = "the built-in model" if record.is_builtin else f"run {option}"
            return f"{who} ({record.config.get('arch')}, trained on {data}" \
                + (f", test accuracy {accuracy})" if accuracy else ")")

        c1, c2, c3 = st.columns([3, 2, 2])
        source = c1.selectbox("Embed", [PIXELS, *candidates], key="dataset_embed_source", format_func=source_label,
                              help="raw pixels, or the penultimate features of a trained deep run with the same "
                                   "classes as this dataset")
        method = c2.radio("Method", ["pca", "tsne"], horizontal=True, key="dataset_embed_method",
                          format_func={"pca": "PCA", "tsne": "t-SNE (slower)"}.get)
        split = c3.selectbox("Split", split_options, key="dataset_embed_split")
        c1, c2 = st.columns(2)
        n = c1.slider("Sample size", 100, 5000, DEFAULT_SAMPLE, step=100, key="dataset_embed_n",
                      help="a seeded sample stratified by class (rare classes keep a minimum share)")
        seed = c2.number_input("Seed", min_value=0, step=1, key="dataset_embed_seed")
        if method == "tsne" and n > TSNE_MAX_POINTS:
            st.caption(f"t-SNE is slow: it uses a sample of {TSNE_MAX_POINTS:,} faces (PCA uses the full sample).")
            n = TSNE_MAX_POINTS
        run_dir = PIXELS if source == PIXELS else str(candidates[source].run_dir)
        try:
            mtime = 0.0 if source == PIXELS else (candidates[source].run_dir / CHECKPOINT).stat().st_mtime
            indices, coords = cached_embedding(KEY, ds, run_dir, mtime, method, split, int(n), int(seed))
        except (ValueError, RunError, OSError, RuntimeError) as exc:  # RuntimeError: weights that do not fit
            st.error(f"Could not embed: {exc}")
            st.stop()
        title = f"{'PCA' if method == 'pca' else 't-SNE'} of {source_label(source)} · {len(indices):,} faces"
        event = chart(st, figs.embedding_scatter(coords, ds, indices, title=title), width="stretch",
                      key="dataset_embed_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))
        picked = selected_indices(event.selection.points) if event else []
        if picked:
            more = f"; the first {MAX_SELECTED_FACES} shown" if len(picked) > MAX_SELECTED_FACES else ""
            st.caption(f"{len(picked)} selected{more}")
            show_faces(ds, picked[:MAX_SELECTED_FACES])
        else:
            st.caption("Click a point, or draw a box or lasso, to see the faces behind the points.")

if noise.open:
    with noise:
        if not choice.votes_path:
            st.info("Give a FER+ votes file on Home (path or upload) to compare this dataset's labels with "
                    "what ten annotators per face said: FER+ (github.com/microsoft/FERPlus) relabelled every "
                    "FER2013 face.")
        else:
            # the source's own labels with the votes beside them, whatever label mode the other pages use
            source_ds, source_error = cached_dataset(choice.path.strip() or "synthetic", choice.class_set,
                                                     choice.votes, "fer2013")
            if source_error:
                st.error(source_error)
                st.stop()
            split = st.selectbox("Split", [ALL, *source_ds.split_names()], key="dataset_noise_split")
            agreement = cached_agreement(KEY + ("noise",), source_ds, split)
            c = st.columns(4)
            c[0].metric("faces with votes", f"{agreement.n_with_votes:,}",
                        help=f"{agreement.n_without_votes:,} faces have no row in the votes file")
            c[1].metric("with a FER+ majority", f"{len(agreement.compared):,}",
                        help="FER+'s rule: single votes dropped; the top emotion holds more than half the rest")
            c[2].metric("labels agree", f"{100 * agreement.agreement:.1f}%",
                        help="share of those faces whose dataset label is the FER+ majority")
            c[3].metric("labels differ", f"{len(agreement.compared) - int(agreement.agrees.sum()):,}")
            left, right = st.columns(2)
            with left:
                st.markdown("#### Dataset label × FER+ majority")
                normalised = st.toggle("Shares of each dataset label", value=True, key="dataset_noise_normalised")
                chart(st, label_figs.agreement_matrix(agreement, normalised), width="stretch",
                      key="dataset_noise_matrix")
            with right:
                st.markdown("#### Agreement per class")
                chart(st, label_figs.per_class_agreement(agreement), width="stretch", key="dataset_noise_per_class")
            st.markdown("#### Where they differ")
            c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
            only = c1.selectbox("Dataset label", [ALL, *agreement.source_classes], key="dataset_noise_class",
                                format_func=lambda c: c if c == ALL else display(c))
            limit = c2.slider("Faces", 8, 80, 40, step=8, key="dataset_noise_limit")
            seed = c3.number_input("Seed", min_value=0, step=1, key="dataset_noise_seed")
            tiles, captions, tooltips = label_figs.disagreement_tiles(source_ds, agreement,
                                                                      None if only == ALL else only, limit, int(seed))
            if tiles:
                st.caption("Each face: its dataset label → the FER+ majority; hover for the votes.")
                gallery(tiles, captions, tooltips=tooltips)
            else:
                st.success("The two labels agree on every face of this choice.")
            st.markdown("#### How much the annotators agreed")
            st.caption("Each face's share of votes for its top class: 100% means all ten annotators gave the same "
                       "answer; faces under 50% have no majority and FER+ leaves them out.")
            chart(st, label_figs.annotator_agreement_histogram(agreement), width="stretch",
                  key="dataset_noise_histogram")
