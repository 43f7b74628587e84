// GOV.UK Frontend's JavaScript, as progressive enhancement: every page works without it.
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();
