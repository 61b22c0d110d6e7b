"""The Streamlit inspection app: UI only, every computation is a galaxy_core call."""
